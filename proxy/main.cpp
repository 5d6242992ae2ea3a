// keel: reverse-proxy HTTP load balancer. Command line per INTERFACE.md.
#include "proxy/config/config.hpp"
#include "proxy/log/log.hpp"
#include "proxy/proxy.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <sys/resource.h>

#include <csignal>
#include <functional>
#include <memory>
#include <thread>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kVersion = "keel 0.1.0";
constexpr std::string_view kUsage =
    "usage: keel [--config FILE]        run the proxy (default conf/keel.yaml)\n"
    "       keel --check-config FILE    validate FILE and exit 0, or print FILE:LINE:COL errors and exit 1\n"
    "       keel --version | --help\n";

// Each client connection costs a descriptor, each upstream one another.
void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string to_string(const boost::asio::ip::tcp::endpoint& endpoint) {
  std::ostringstream text;
  text << endpoint;
  return text.str();
}

int print_errors(const keel::config::LoadResult& loaded) {
  for (const auto& error : loaded.errors) std::cerr << error.to_string() << '\n';
  return 1;
}

int run(const std::string& config_path) {
  auto loaded = keel::config::load_config_file(config_path);
  if (!loaded.config) return print_errors(loaded);
  for (const auto& warning : loaded.warnings) keel::log::warn(warning.to_string());
  const keel::config::Config config = *loaded.config;

  std::signal(SIGPIPE, SIG_IGN);
  raise_file_limit();

  std::unique_ptr<keel::Proxy> proxy;
  try {
    proxy = std::make_unique<keel::Proxy>(std::move(*loaded.config), config_path);
  } catch (const std::exception& error) {
    keel::log::error(error.what());
    return 1;
  }
  // Registered before any thread starts, so that none takes these signals with
  // their default (fatal) action.
  boost::asio::signal_set stop_signals(proxy->control_context(), SIGTERM, SIGINT);
  boost::asio::signal_set hangup(proxy->control_context(), SIGHUP);
  boost::asio::signal_set reopen(proxy->control_context(), SIGUSR1);
  stop_signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    keel::log::info(std::string("signal ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                    ": finishing in-flight requests, then exiting");
    hangup.cancel();
    reopen.cancel();
    proxy->stop(config.timeouts.shutdown);
  });
  std::function<void(const boost::system::error_code&, int)> on_hangup =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        keel::log::info("SIGHUP: reloading " + config_path);
        proxy->reload();
        hangup.async_wait(on_hangup);
  // SIGUSR1, as nginx: reopen the access log after logrotate renamed it.
  std::function<void(const boost::system::error_code&, int)> on_reopen =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        proxy->reopen_logs();
        reopen.async_wait(on_reopen);
      };
  reopen.async_wait(on_reopen);
      };
  hangup.async_wait(on_hangup);
  // SIGUSR1, as nginx: reopen the access log after logrotate renamed it.
  std::function<void(const boost::system::error_code&, int)> on_reopen =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        proxy->reopen_logs();
        reopen.async_wait(on_reopen);
      };
  reopen.async_wait(on_reopen);

  proxy->start();
  for (const auto& endpoint : proxy->endpoints())
    std::cout << "listening on " << to_string(endpoint) << std::endl;  // flushed: harnesses wait for it
  if (const auto admin = proxy->admin_endpoint())
    std::cout << "admin listening on " << to_string(*admin) << std::endl;
  keel::log::info("keel started with " + std::to_string(config.workers) + " worker(s), config " +
                  config_path);
  proxy->wait();
  keel::log::info("keel stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "conf/keel.yaml";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << kVersion << '\n';
      return 0;
    }
    if ((arg == "--config" || arg == "--check-config") && i + 1 < argc) {
      const std::string path = argv[++i];
      if (arg == "--config") {
        config_path = path;
        continue;
      }
      const auto loaded = keel::config::load_config_file(path);
      for (const auto& warning : loaded.warnings) std::cerr << warning.to_string() << '\n';
      if (!loaded.config) return print_errors(loaded);
      std::cout << path << ": configuration is valid\n";
      return 0;
    }
    std::cerr << "keel: unknown or incomplete argument '" << arg << "'\n" << kUsage;
    return 2;
  }
  return run(config_path);
}
