// Tests for service files: what dbus-daemon 1.14 loads, what it refuses and why, which file wins when
// several declare one name, and how an Exec= line becomes argv. The expectations were checked against
// /usr/bin/dbus-daemon (ListActivatableNames, and the argv an activated service received).
#include "config/service_file.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using jetbus::config::BusConfig;
using jetbus::config::parse_service_file;
using jetbus::config::scan_service_dirs;
using jetbus::config::service_dirs_of;
using jetbus::config::ServiceCatalog;
using jetbus::config::ServiceDir;
using jetbus::config::split_exec;

namespace {

using Argv = std::vector<std::string>;

// A private directory tree for service files, removed at the end of the test.
struct TempDir {
    std::string path;
    TempDir() {
        char templ[] = "/tmp/jetbus-service-test-XXXXXX";
        REQUIRE(::mkdtemp(templ) != nullptr);
        path = templ;
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }

    std::string mkdir(const std::string& name) const {
        std::string dir = path + "/" + name;
        ::mkdir(dir.c_str(), 0700);
        return dir;
    }
    static void write(const std::string& dir, const std::string& name, const std::string& text) {
        std::ofstream(dir + "/" + name, std::ios::binary) << text;
    }
};

std::string service(const std::string& name, const std::string& exec = "/usr/bin/example") {
    return "[D-BUS Service]\nName=" + name + "\nExec=" + exec + "\n";
}

// The reason a file is refused, or "(accepted)".
std::string refusal(const std::string& text) {
    std::string error;
    auto parsed = parse_service_file(text, "/x/test.service", error);
    return parsed ? "(accepted)" : error;
}

std::string name_of(const std::string& text) {
    std::string error;
    auto parsed = parse_service_file(text, "/x/test.service", error);
    return parsed ? parsed->name : "(refused: " + error + ")";
}

Argv split(const std::string& exec) {
    std::string error;
    auto argv = split_exec(exec, error);
    return argv ? *argv : Argv{"(error: " + error + ")"};
}

std::vector<std::string> names(const ServiceCatalog& catalog) {
    std::vector<std::string> out;
    for (const auto& s : catalog.services) out.push_back(s.name);
    return out;
}

}  // namespace

TEST_CASE("A complete service file gives every key and the path it came from") {
    std::string error;
    auto parsed = parse_service_file(
        "# An example\n\n[D-BUS Service]\nName=org.example.Foo\nExec=/usr/bin/foo --bar\nUser=nobody\n"
        "SystemdService=foo.service\nAssumedAppArmorLabel=foo-label\n",
        "/usr/share/dbus-1/services/org.example.Foo.service", error);
    REQUIRE(parsed);
    CHECK(parsed->path == "/usr/share/dbus-1/services/org.example.Foo.service");
    CHECK(parsed->name == "org.example.Foo");
    CHECK(parsed->exec == "/usr/bin/foo --bar");
    CHECK(parsed->user == "nobody");
    CHECK(parsed->systemd_service == "foo.service");
    CHECK(parsed->assumed_apparmor_label == "foo-label");
}

TEST_CASE("Optional keys that are absent read as empty") {
    std::string error;
    auto parsed = parse_service_file(service("org.example.Foo"), "/x/f.service", error);
    REQUIRE(parsed);
    CHECK(parsed->user.empty());
    CHECK(parsed->systemd_service.empty());
    CHECK(parsed->assumed_apparmor_label.empty());
}

TEST_CASE("A service file without Name is refused") {
    CHECK(refusal("[D-BUS Service]\nExec=/bin/true\n") == "No \"Name\" key in .service file");
}

TEST_CASE("A service file without Exec is refused but an empty Exec is accepted") {
    CHECK(refusal("[D-BUS Service]\nName=org.example.Foo\n") == "No \"Exec\" key in .service file");
    CHECK(refusal("[D-BUS Service]\nName=org.example.Foo\nExec=\n") == "(accepted)");
}

TEST_CASE("A service file without the [D-BUS Service] group is refused") {
    CHECK(refusal("[Other]\nName=org.example.Foo\nExec=/bin/true\n") == "No \"Name\" key in .service file");
    CHECK(refusal("") == "No \"Name\" key in .service file");
}

TEST_CASE("Keys before the first group are refused") {
    CHECK(refusal("Name=org.example.Foo\n[D-BUS Service]\nExec=/bin/true\n") ==
          "invalid service file: key=value before [Section]");
}

TEST_CASE("Only the first [D-BUS Service] group and the first of a repeated key count") {
    CHECK(name_of(service("org.example.A") + "[D-BUS Service]\nName=org.example.B\n") == "org.example.A");
    CHECK(refusal("[D-BUS Service]\nExec=/bin/true\n[D-BUS Service]\nName=org.example.B\n") ==
          "No \"Name\" key in .service file");
    CHECK(name_of("[D-BUS Service]\nName=org.example.A\nName=org.example.B\nExec=/bin/true\n") == "org.example.A");
}

TEST_CASE("Other groups and unknown keys are allowed") {
    CHECK(name_of("[X-Extra]\nFoo=1\n" + service("org.example.A") + "Unknown-Key=2\n") == "org.example.A");
}

TEST_CASE("Localized keys are ignored") {
    CHECK(name_of("[D-BUS Service]\nName[de]=org.example.B\nName=org.example.A\nExec=x\n") == "org.example.A");
    CHECK(refusal("[D-BUS Service]\nName[de]=org.example.B\nExec=x\n") == "No \"Name\" key in .service file");
}

TEST_CASE("Spaces around '=' are skipped, but tabs and leading blanks are not") {
    CHECK(name_of("[D-BUS Service]\nName  =  org.example.A\nExec=x\n") == "org.example.A");
    CHECK(refusal("[D-BUS Service]\nName\t=org.example.A\nExec=x\n") ==
          "Error in section D-BUS Service at line 2: Invalid characters in key name");
    CHECK(refusal("[D-BUS Service]\n Name=org.example.A\nExec=x\n") ==
          "Error in section D-BUS Service at line 2: Empty key name");
}

TEST_CASE("Keys may hold only letters, digits and '-'") {
    CHECK(refusal(service("org.example.A") + "X_Y=1\n") ==
          "Error in section D-BUS Service at line 4: Invalid characters in key name");
    CHECK(refusal(service("org.example.A") + "X.Y=1\n") ==
          "Error in section D-BUS Service at line 4: Invalid characters in key name");
    CHECK(refusal(service("org.example.A") + "Lonely\n") ==
          "Error in section D-BUS Service at line 4: No '=' in key/value pair");
}

TEST_CASE("Comments start only in the first column; blank lines may hold whitespace") {
    CHECK(name_of("# top\n\n[D-BUS Service]\n#Name=org.example.B\n \t \nName=org.example.A\n\r\nExec=x\n") ==
          "org.example.A");
    CHECK(refusal("[D-BUS Service]\n  # indented\nName=org.example.A\nExec=x\n") ==
          "Error in section D-BUS Service at line 2: Empty key name");
}

TEST_CASE("Malformed group headers are refused") {
    CHECK(refusal("[D-BUS Service] \nName=org.example.A\nExec=x\n") ==
          "Error at line 1: Invalid syntax for section header");
    CHECK(refusal("[]\n" + service("org.example.A")) == "Error at line 1: Invalid syntax for section header");
    CHECK(refusal("[a[b]\n" + service("org.example.A")) == "Error at line 1: Invalid characters in section name");
    CHECK(refusal(service("org.example.A") + "[Bad\n") ==
          "Error in section D-BUS Service at line 4: Invalid syntax for section header");
}

TEST_CASE("Values keep trailing blanks and decode the \\s \\t \\n \\r \\\\ escapes") {
    std::string error;
    auto parsed = parse_service_file("[D-BUS Service]\nName=org.example.A\nExec=/bin/a\\sb\\t\\\\ \n", "/x", error);
    REQUIRE(parsed);
    CHECK(parsed->exec == "/bin/a b\t\\ ");
    CHECK(refusal(service("org.example.A") + "X=\\q\n") ==
          "Error in section D-BUS Service at line 4: Text to be unescaped had invalid escape sequence");
    CHECK(refusal(service("org.example.A") + "X=ab\\\n") ==
          "Error in section D-BUS Service at line 4: Text to be unescaped ended in \\");
}

TEST_CASE("CRLF line ends and a missing final newline are fine") {
    CHECK(name_of("[D-BUS Service]\r\nName=org.example.A\r\nExec=x\r\n") == "org.example.A");
    CHECK(name_of("[D-BUS Service]\nExec=x\nName=org.example.A") == "org.example.A");
}

TEST_CASE("Invalid UTF-8 or a NUL byte anywhere refuses the file") {
    CHECK(refusal(service("org.example.A") + "X=\xff\n") == "invalid UTF-8");
    CHECK(refusal(service("org.example.A") + std::string("X=a\0b\n", 6)) == "invalid UTF-8");
}

TEST_CASE("A file over 128 KiB is refused") {
    std::string big = service("org.example.A") + "#" + std::string(140000, 'x') + "\n";
    CHECK(refusal(big) == "Desktop file size (" + std::to_string(big.size()) + " bytes) is too large");
    CHECK(big.size() > 128 * 1024);
}

TEST_CASE("A Name that is not a bus name one may activate is refused") {
    CHECK(refusal(service("org..example")) == "Bus name was not valid: 'org..example'");
    CHECK(refusal(service("org.example.A ")) == "Bus name was not valid: 'org.example.A '");
    CHECK(refusal(service(":1.5")) == "Bus name \":1.5\" cannot be activatable because it starts with ':'");
    CHECK(refusal(service("org.freedesktop.DBus")) ==
          "Bus name \"org.freedesktop.DBus\" cannot be activatable because it is reserved for the message bus");
}

TEST_CASE("Exec splits on blanks and newlines") {
    CHECK(split("/usr/bin/foo a  b\tc") == Argv{"/usr/bin/foo", "a", "b", "c"});
    CHECK(split("  /usr/bin/foo") == Argv{"/usr/bin/foo"});
    CHECK(split("/usr/bin/foo a\nb") == Argv{"/usr/bin/foo", "a", "b"});
}

TEST_CASE("Exec keeps the empty word between two newlines, as dbus-daemon does") {
    CHECK(split("/bin/x x\n\ny") == Argv{"/bin/x", "x", "", "y"});
    CHECK(split("/bin/x a\\\\\nb") == Argv{"/bin/x", "a\\", "b"});
}

TEST_CASE("Exec keeps a final empty argument after trailing blanks, as dbus-daemon does") {
    CHECK(split("/usr/bin/foo a ") == Argv{"/usr/bin/foo", "a", ""});
}

TEST_CASE("Exec honours single quotes, double quotes and backslashes") {
    CHECK(split(R"(/bin/x "a b" 'c d' e\ f)") == Argv{"/bin/x", "a b", "c d", "e f"});
    CHECK(split(R"(/bin/x "a\"b" 'x\y' "p\q" "r\\s")") == Argv{"/bin/x", "a\"b", "x\\y", "p\\q", "r\\s"});
    CHECK(split(R"(/bin/x a\\b c\"d)") == Argv{"/bin/x", "a\\b", "c\"d"});
    CHECK(split(R"(/bin/x x"y"z '')") == Argv{"/bin/x", "xyz", ""});
    CHECK(split(R"(/bin/x 'it'\''s')") == Argv{"/bin/x", "it's"});
    CHECK(split(R"(/bin/x "\$x\`" "$HOME" `y`)") == Argv{"/bin/x", "$x`", "$HOME", "`y`"});
}

TEST_CASE("Exec joins lines at a backslash-newline and keeps newlines inside quotes") {
    CHECK(split("/bin/x \"multi\nline\" x\\\ny") == Argv{"/bin/x", "multi\nline", "xy"});
}

TEST_CASE("Exec treats '#' outside quotes as the start of a comment") {
    CHECK(split("/bin/x a#b #c d") == Argv{"/bin/x", "a"});
    CHECK(split("/bin/x '#a' \"#b\"") == Argv{"/bin/x", "#a", "#b"});
    // The comment swallows its newline, so the words on either side join (dbus-daemon does the same).
    CHECK(split("/bin/x a#c\nb") == Argv{"/bin/x", "ab"});
}

TEST_CASE("Exec with an unterminated quote or escape is refused") {
    CHECK(split("/bin/x \"open") == Argv{"(error: Unclosed quotes in command line)"});
    CHECK(split("/bin/x 'open") == Argv{"(error: Unclosed quotes in command line)"});
    CHECK(split("/bin/x a\\") == Argv{"(error: Unclosed quotes in command line)"});
    CHECK(split("/bin/x \"a\\\"") == Argv{"(error: Unclosed quotes in command line)"});
    CHECK(split("/bin/x #") == Argv{"(error: Unclosed quotes in command line)"});
    CHECK(split(R"(/bin/x 'a\\'b'c)") == Argv{"(error: Unclosed quotes in command line)"});
}

TEST_CASE("Exec with no command is refused") {
    CHECK(split("") == Argv{"(error: No tokens found in command line)"});
    CHECK(split("   ") == Argv{"(error: No tokens found in command line)"});
    CHECK(split("# nothing") == Argv{"(error: No tokens found in command line)"});
    CHECK(split("'' a") == Argv{"(error: Empty program name in command line)"});
}

TEST_CASE("Scanning reads every .service file and ignores other names") {
    TempDir tmp;
    auto dir = tmp.mkdir("services");
    TempDir::write(dir, "org.example.A.service", service("org.example.A"));
    TempDir::write(dir, "other-name.service", service("org.example.B"));
    TempDir::write(dir, ".hidden.service", service("org.example.H"));
    TempDir::write(dir, "org.example.C.conf", service("org.example.C"));
    TempDir::write(dir, "org.example.D.service~", service("org.example.D"));
    TempDir::write(dir, "org.example.E.SERVICE", service("org.example.E"));
    auto catalog = scan_service_dirs({{dir}});
    // The file named after its service first, then the others in byte order of their names.
    CHECK(names(catalog) == std::vector<std::string>{"org.example.A", "org.example.H", "org.example.B"});
    CHECK(catalog.errors.empty());
    CHECK(catalog.services[0].path == dir + "/org.example.A.service");
}

TEST_CASE("A bad file is reported with its path and skipped") {
    TempDir tmp;
    auto dir = tmp.mkdir("services");
    TempDir::write(dir, "a.service", "[D-BUS Service]\nExec=/bin/true\n");
    TempDir::write(dir, "b.service", service("org.example.B"));
    tmp.mkdir("services/c.service");
    auto catalog = scan_service_dirs({{dir}});
    CHECK(names(catalog) == std::vector<std::string>{"org.example.B"});
    REQUIRE(catalog.errors.size() == 2);
    CHECK(catalog.errors[0] == dir + "/a.service: No \"Name\" key in .service file");
    CHECK(catalog.errors[1].rfind(dir + "/c.service: ", 0) == 0);
}

TEST_CASE("A missing service directory is silently fine") {
    TempDir tmp;
    auto dir = tmp.mkdir("services");
    TempDir::write(dir, "org.example.A.service", service("org.example.A"));
    auto catalog = scan_service_dirs({{tmp.path + "/missing"}, {dir}, {dir + "/org.example.A.service"}});
    CHECK(names(catalog) == std::vector<std::string>{"org.example.A"});
    CHECK(catalog.errors.empty());
}

TEST_CASE("When two directories declare one name, the first directory wins") {
    TempDir tmp;
    auto first = tmp.mkdir("first");
    auto second = tmp.mkdir("second");
    TempDir::write(first, "zzz.service", service("org.example.A", "/bin/first"));
    TempDir::write(second, "org.example.A.service", service("org.example.A", "/bin/second"));
    TempDir::write(second, "org.example.B.service", service("org.example.B"));
    auto catalog = scan_service_dirs({{first}, {second}});
    REQUIRE(names(catalog) == std::vector<std::string>{"org.example.A", "org.example.B"});
    CHECK(catalog.services[0].exec == "/bin/first");
    CHECK(catalog.errors == std::vector<std::string>{
                                second + "/org.example.A.service: Service org.example.A already exists in "
                                         "activation entry list"});
}

TEST_CASE("A refused file in the first directory leaves the name to the next one") {
    TempDir tmp;
    auto first = tmp.mkdir("first");
    auto second = tmp.mkdir("second");
    TempDir::write(first, "org.example.A.service", "[D-BUS Service]\nName=org.example.A\n");
    TempDir::write(second, "org.example.A.service", service("org.example.A", "/bin/second"));
    auto catalog = scan_service_dirs({{first}, {second}});
    REQUIRE(catalog.services.size() == 1);
    CHECK(catalog.services[0].exec == "/bin/second");
    CHECK(catalog.errors.size() == 1);
}

TEST_CASE("Within one directory the file named after the service wins, then the first by name") {
    TempDir tmp;
    auto dir = tmp.mkdir("services");
    TempDir::write(dir, "a.service", service("org.example.A", "/bin/a"));
    TempDir::write(dir, "org.example.A.service", service("org.example.A", "/bin/canonical"));
    TempDir::write(dir, "b.service", service("org.example.B", "/bin/b"));
    TempDir::write(dir, "c.service", service("org.example.B", "/bin/c"));
    auto catalog = scan_service_dirs({{dir}});
    REQUIRE(names(catalog) == std::vector<std::string>{"org.example.A", "org.example.B"});
    CHECK(catalog.services[0].exec == "/bin/canonical");
    CHECK(catalog.services[1].exec == "/bin/b");
    CHECK(catalog.errors.size() == 2);
}

TEST_CASE("A strict directory refuses a file not named after its service") {
    TempDir tmp;
    auto dir = tmp.mkdir("runtime");
    TempDir::write(dir, "wrong.service", service("org.example.R"));
    TempDir::write(dir, "org.example.S.service", service("org.example.S"));
    auto catalog = scan_service_dirs({ServiceDir{dir, true}});
    CHECK(names(catalog) == std::vector<std::string>{"org.example.S"});
    CHECK(catalog.errors == std::vector<std::string>{
                                dir + "/wrong.service: Service file \"" + dir +
                                "/wrong.service\" should have been named \"org.example.R.service\": not loading it"});
}

TEST_CASE("Only the runtime service directory of a config is strict") {
    BusConfig config;
    config.servicedirs = {"/run/user/1000/dbus-1/services", "/usr/share/dbus-1/services",
                          "/usr/share/dbus-1/system-services"};
    config.runtime_servicedir = "/run/user/1000/dbus-1/services";
    auto dirs = service_dirs_of(config);
    REQUIRE(dirs.size() == 3);
    CHECK(dirs[0].path == "/run/user/1000/dbus-1/services");
    CHECK(dirs[0].strict_naming);
    CHECK_FALSE(dirs[1].strict_naming);
    CHECK_FALSE(dirs[2].strict_naming);
    config.runtime_servicedir.clear();
    CHECK_FALSE(service_dirs_of(config)[0].strict_naming);
}
