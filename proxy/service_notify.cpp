#include "proxy/service_notify.hpp"

#if KEEL_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace keel::service {
namespace {

void notify([[maybe_unused]] const char* state) {
#if KEEL_HAVE_SYSTEMD
  // 0 arguments: keep NOTIFY_SOCKET for later calls. A failure (no systemd
  // listening) is not keel's problem to report: the service manager times out.
  sd_notify(0, state);
#endif
}

}  // namespace

void ready() { notify("READY=1"); }
void reloading() { notify("RELOADING=1"); }
void stopping() { notify("STOPPING=1"); }

}  // namespace keel::service
