#include "proxy/signals.hpp"

#include "proxy/control/control_plane.hpp"
#include "proxy/log/log.hpp"
#include "proxy/proxy.hpp"
#include "proxy/service_notify.hpp"

#include <csignal>

namespace keel {

ProcessSignals::ProcessSignals(Proxy& proxy, std::string config_path)
    : proxy_(proxy),
      config_path_(std::move(config_path)),
      signals_(proxy.control_context(), SIGTERM, SIGINT, SIGHUP) {
  signals_.add(SIGUSR1);
  wait_next();
}

void ProcessSignals::wait_next() {
  // `this` outlives every wait: the destructor of signals_ cancels the pending
  // one, and a cancelled wait is never run after the control loop has stopped.
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;  // cancelled: the process is ending
    handle(signal);
    wait_next();
  });
}

void ProcessSignals::handle(int signal) {
  switch (signal) {
    case SIGTERM:
    case SIGINT:
      stop(signal);
      break;
    case SIGHUP:
      reload();
      break;
    case SIGUSR1:
      reopen_logs();
      break;
    default:
      break;
  }
}

void ProcessSignals::stop(int signal) {
  const std::string name = signal == SIGTERM ? "SIGTERM" : "SIGINT";
  if (stopping_) {
    log::info("signal " + name + ": already stopping; in-flight requests still finish");
    return;
  }
  stopping_ = true;
  service::stopping();
  log::info("signal " + name + ": finishing in-flight requests, then exiting");
  // The running config's value: a reload may have changed it since the start.
  proxy_.stop(proxy_.control_plane().config().timeouts.shutdown);
}

void ProcessSignals::reload() {
  if (stopping_) {
    log::info("signal SIGHUP: ignored, keel is stopping");
    return;
  }
  log::info("signal SIGHUP: reloading " + config_path_);
  service::reloading();
  proxy_.reload();
  service::ready();  // applied or rejected, keel serves (the running config stays)
}

void ProcessSignals::reopen_logs() {
  log::info("signal SIGUSR1: reopening log files");
  proxy_.reopen_logs();
}

}  // namespace keel
