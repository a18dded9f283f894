// Helpers every stand-in library carries (each library gets its own copy; all are hidden).
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "emu.h"

namespace emu {

void note(const char* fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "vit4j-emulator: %s\n", buf);
    fflush(stderr);
}

std::string format(const char* fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

bool enabled() {
    const char* e = getenv("VIT4J_EMULATOR");
    return e != nullptr && strcmp(e, "1") == 0;
}

int workers() {
    static int n = [] {
        const char* e = getenv("VIT4J_EMU_WORKERS");
        int v = e && *e ? atoi(e) : (int) std::thread::hardware_concurrency();
        return std::max(1, std::min(v, 64));
    }();
    return n;
}

const std::string& installDir() {
    static std::string dir = [] {
        Dl_info info{};
        dladdr((void*) &installDir, &info);
        std::string path = info.dli_fname ? info.dli_fname : "";
        char real[4096];
        if (realpath(path.c_str(), real)) path = real;
        return path.substr(0, path.rfind('/'));
    }();
    return dir;
}

std::string cacheDir() {
    const char* e = getenv("VIT4J_EMU_CACHE");
    std::string dir;
    if (e && *e) {
        dir = e;
    } else {
        const char* xdg = getenv("XDG_CACHE_HOME");
        const char* home = getenv("HOME");
        dir = xdg && *xdg ? std::string(xdg) + "/vit4j-emulator"
                          : std::string(home && *home ? home : "/tmp") + "/.cache/vit4j-emulator";
    }
    return dir + "/" + EMU_FLAVOUR;
}

}  // namespace emu
