// org.freedesktop.DBus.Peer on the bus object.
#include "driver/driver.h"

namespace jetbus::driver {

void Driver::ping(Call& c) { reply_empty(c); }

void Driver::get_machine_id(Call& c) { reply_string(c, options_.machine_id); }

}  // namespace jetbus::driver
