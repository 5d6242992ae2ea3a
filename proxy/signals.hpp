#pragma once

#include <boost/asio/signal_set.hpp>

#include <string>

namespace keel {

class Proxy;

// The process's signals, all on the control thread, each with one handler that
// lives exactly as long as this object (declare it after the Proxy it drives):
//   SIGTERM, SIGINT  stop accepting, finish in-flight requests, exit; a repeat
//                    while stopping is logged and changes nothing
//   SIGHUP           reload the config (ignored once stopping)
//   SIGUSR1          reopen the access log (logrotate)
// One signal_set and one pending wait: a signal that arrives while another is
// handled is queued by Asio and handled next, in order.
class ProcessSignals {
 public:
  // Registers the handlers at once: construct before any thread starts, so that
  // none takes these signals with their default (fatal) action.
  ProcessSignals(Proxy& proxy, std::string config_path);
  ProcessSignals(const ProcessSignals&) = delete;
  ProcessSignals& operator=(const ProcessSignals&) = delete;

 private:
  void wait_next();
  void handle(int signal);
  void stop(int signal);
  void reload();
  void reopen_logs();

  Proxy& proxy_;
  const std::string config_path_;
  boost::asio::signal_set signals_;
  bool stopping_ = false;
};

}  // namespace keel
