// Fuzz target for the busconfig loader (src/config/bus_config.h): arbitrary bytes as the XML of a
// config file. The loader reads files by path (it follows <include> and <includedir>), so each input
// is written to fuzz.conf in a private temporary directory; relative includes resolve inside it.
// ConfigError is the loader's documented way to refuse a file; any other exception escaping is a bug
// (it would abort the daemon at start-up or on ReloadConfig) and shows up as a crash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "config/bus_config.h"
#include "fuzz_check.h"

namespace {

std::string config_dir;

void remove_config_dir() {
    std::error_code ec;
    std::filesystem::remove_all(config_dir, ec);
}

bool write_file(const std::string& path, const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    bool ok = std::fwrite(data, 1, size, f) == size;
    return std::fclose(f) == 0 && ok;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    std::string pattern = (std::filesystem::temp_directory_path() / "jetbus-fuzz-config.XXXXXX").string();
    if (!mkdtemp(pattern.data())) {
        std::perror("mkdtemp");
        std::abort();
    }
    config_dir = pattern;
    std::atexit(remove_config_dir);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = config_dir + "/fuzz.conf";
    FUZZ_CHECK(write_file(path, data, size), "the input can be written to the temporary directory");
    try {
        jetbus::config::BusConfig config = jetbus::config::load_bus_config(path);
        FUZZ_CHECK(!config.listen.empty(), "a loaded config has a <listen>");
        FUZZ_CHECK(!config.included_files.empty() && config.included_files.front() == path,
                   "the file itself is the first file read");
    } catch (const jetbus::config::ConfigError& e) {
        FUZZ_CHECK(e.what()[0] != '\0', "a refusal says why");
    }
    return 0;
}
