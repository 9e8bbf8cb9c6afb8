// Fuzz target for activation's service files (src/config/service_file.h): arbitrary bytes as the text
// of a .service file for parse_service_file, and as an Exec= line for split_exec. The broker reads
// these from directories any user may be able to write to (the session's ~/.local/share/dbus-1), so
// neither may crash, and each keeps the promises the activation code relies on:
//   - a parsed file has an activatable name, and written back out as a key file it parses to itself;
//   - a split line has a non-empty program name, and its argv quoted back as a shell would quote it
//     splits to the same argv (so what the broker runs is what the file says);
//   - a refusal says why, since the reason goes to the log and to StartServiceByName's caller.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/service_file.h"
#include "fuzz_check.h"
#include "wire/names.h"

namespace {

using namespace jetbus::config;

const std::string path = "/fuzz/test.service";

// A value as the key-file grammar reads it back: the escapes it knows, spaces as \s so that leading
// ones survive.
std::string escape_value(std::string_view value) {
    std::string out;
    for (char c : value) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case ' ': out += "\\s"; break;
            default: out += c;
        }
    }
    return out;
}

std::string write_service_file(const ServiceFile& service) {
    std::string text = "[D-BUS Service]\nName=" + escape_value(service.name) + "\nExec=" + escape_value(service.exec) + "\n";
    auto optional_key = [&](std::string_view key, const std::string& value) {
        if (!value.empty()) text += std::string(key) + "=" + escape_value(value) + "\n";
    };
    optional_key("User", service.user);
    optional_key("SystemdService", service.systemd_service);
    optional_key("AssumedAppArmorLabel", service.assumed_apparmor_label);
    return text;
}

void check_service_file(std::string_view text) {
    std::string error;
    auto service = parse_service_file(text, path, error);
    if (!service) {
        FUZZ_CHECK(!error.empty(), "a refused service file says why");
        return;
    }
    FUZZ_CHECK(service->path == path, "a service file remembers where it came from");
    FUZZ_CHECK(jetbus::wire::is_valid_bus_name(service->name), "the name is a valid bus name");
    FUZZ_CHECK(service->name.front() != ':', "a unique name is never activatable");
    FUZZ_CHECK(service->name != "org.freedesktop.DBus", "the bus driver's name is never activatable");
    const std::string written = write_service_file(*service);
    std::string again_error;
    auto again = parse_service_file(written, path, again_error);
    if (!again) std::fprintf(stderr, "written back file refused: %s\n", again_error.c_str());
    FUZZ_CHECK(again.has_value(), "a parsed service file written back parses");
    FUZZ_CHECK(again->name == service->name && again->exec == service->exec && again->user == service->user &&
                   again->systemd_service == service->systemd_service &&
                   again->assumed_apparmor_label == service->assumed_apparmor_label,
               "a parsed service file written back parses to the same keys");
}

// An argument as sh would quote it: inside '...', with each ' written as '\''.
std::string quote_word(std::string_view word) {
    std::string out = "'";
    for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

void check_exec(std::string_view exec) {
    std::string error;
    auto argv = split_exec(exec, error);
    if (!argv) {
        FUZZ_CHECK(!error.empty(), "a refused Exec= line says why");
        return;
    }
    FUZZ_CHECK(!argv->empty() && !argv->front().empty(), "there is a program to run");
    std::size_t chars = 0;
    for (const auto& word : *argv) chars += word.size();
    FUZZ_CHECK(chars <= exec.size() && argv->size() <= exec.size() + 1, "splitting never invents text");
    std::string quoted;
    for (const auto& word : *argv) quoted += (quoted.empty() ? "" : " ") + quote_word(word);
    std::string again_error;
    auto again = split_exec(quoted, again_error);
    if (!again) std::fprintf(stderr, "quoted argv refused: %s\n", again_error.c_str());
    FUZZ_CHECK(again.has_value() && *again == *argv, "an argv quoted as sh quotes it splits to itself");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    check_service_file(text);
    check_exec(text);
    return 0;
}
