// The D-Bus error names the driver answers with: one table, so every refusal maps to exactly one name.
#pragma once

#include <string_view>

namespace jetbus::driver {

enum class DriverError {
    failed,
    invalid_args,
    unknown_method,
    unknown_interface,
    unknown_property,
    property_read_only,
    name_has_no_owner,
    service_unknown,
    access_denied,
    limits_exceeded,
    match_rule_invalid,
    match_rule_not_found,
    adt_audit_data_unknown,
    selinux_context_unknown,
    not_supported,
};

constexpr std::string_view error_name(DriverError e) {
    switch (e) {
    case DriverError::failed: return "org.freedesktop.DBus.Error.Failed";
    case DriverError::invalid_args: return "org.freedesktop.DBus.Error.InvalidArgs";
    case DriverError::unknown_method: return "org.freedesktop.DBus.Error.UnknownMethod";
    case DriverError::unknown_interface: return "org.freedesktop.DBus.Error.UnknownInterface";
    case DriverError::unknown_property: return "org.freedesktop.DBus.Error.UnknownProperty";
    case DriverError::property_read_only: return "org.freedesktop.DBus.Error.PropertyReadOnly";
    case DriverError::name_has_no_owner: return "org.freedesktop.DBus.Error.NameHasNoOwner";
    case DriverError::service_unknown: return "org.freedesktop.DBus.Error.ServiceUnknown";
    case DriverError::access_denied: return "org.freedesktop.DBus.Error.AccessDenied";
    case DriverError::limits_exceeded: return "org.freedesktop.DBus.Error.LimitsExceeded";
    case DriverError::match_rule_invalid: return "org.freedesktop.DBus.Error.MatchRuleInvalid";
    case DriverError::match_rule_not_found: return "org.freedesktop.DBus.Error.MatchRuleNotFound";
    case DriverError::adt_audit_data_unknown: return "org.freedesktop.DBus.Error.AdtAuditDataUnknown";
    case DriverError::selinux_context_unknown:
        return "org.freedesktop.DBus.Error.SELinuxSecurityContextUnknown";
    case DriverError::not_supported: return "org.freedesktop.DBus.Error.NotSupported";
    }
    return "org.freedesktop.DBus.Error.Failed";
}

}  // namespace jetbus::driver
