// Driver replies: method returns and errors addressed to the caller. See driver.h.
#include <unistd.h>

#include "driver/driver.h"

namespace jetbus::driver {

void Driver::reply(Call& c, std::string_view signature, const std::vector<uint8_t>& body, std::vector<int> fds) {
    const wire::Header& call = c.msg->header();
    if (call.flags & wire::flags::no_reply_expected) {
        for (int fd : fds) ::close(fd);
        return;
    }
    wire::HeaderFields f;
    f.type = wire::MessageType::method_return;
    f.flags = wire::flags::no_reply_expected;
    f.serial = bus_.next_serial();
    f.reply_serial = call.serial;
    f.destination = c.from.unique_name();
    f.sender = broker::driver_name;
    f.signature = signature;
    f.unix_fds = static_cast<uint32_t>(fds.size());
    bus_.send_from_driver(broker::Message::build(f, body, std::move(fds)));
}

void Driver::reply_string(Call& c, std::string_view s) {
    std::vector<uint8_t> body;
    wire::Writer(body).string(s);
    reply(c, "s", body);
}

void Driver::reply_uint32(Call& c, uint32_t v) {
    std::vector<uint8_t> body;
    wire::Writer(body).uint32(v);
    reply(c, "u", body);
}

void Driver::reply_error(Call& c, DriverError e, std::string_view text) {
    bus_.reply_error(c.from, c.msg->header(), error_name(e), text);
}

}  // namespace jetbus::driver
