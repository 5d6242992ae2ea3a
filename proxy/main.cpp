// keel: reverse-proxy HTTP load balancer. Command line per INTERFACE.md.
#include "proxy/config/config.hpp"
#include "proxy/descriptor_budget.hpp"
#include "proxy/http/address_text.hpp"
#include "proxy/log/log.hpp"
#include "proxy/proxy.hpp"
#include "proxy/signals.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kVersion = "keel 0.1.0";
constexpr std::string_view kUsage =
    "usage: keel [--config FILE]        run the proxy (default conf/keel.yaml)\n"
    "       keel --check-config FILE    validate FILE and exit 0, or print FILE:LINE:COL errors and exit 1\n"
    "       keel --version | --help\n";

int print_errors(const keel::config::LoadResult& loaded) {
  for (const auto& error : loaded.errors) std::cerr << error.to_string() << '\n';
  return 1;
}

int run(const std::string& config_path) {
  auto loaded = keel::config::load_config_file(config_path);
  if (!loaded.config) return print_errors(loaded);
  keel::log::configure(loaded.config->log.level, loaded.config->log.format);
  for (const auto& warning : loaded.warnings) keel::log::warn(warning.to_string());
  const keel::config::Config config = *loaded.config;

  std::signal(SIGPIPE, SIG_IGN);
  // Until ProcessSignals handles them: a reload or logrotate signal that comes
  // while keel starts must not kill it (their default action).
  std::signal(SIGHUP, SIG_IGN);
  std::signal(SIGUSR1, SIG_IGN);
  keel::raise_descriptor_limit();

  std::unique_ptr<keel::Proxy> proxy;
  try {
    proxy = std::make_unique<keel::Proxy>(std::move(*loaded.config), config_path);
  } catch (const std::exception& error) {
    keel::log::error(error.what());
    return 1;
  }
  // Before any thread starts (see ProcessSignals); destroyed before the proxy.
  keel::ProcessSignals signals(*proxy, config_path);

  proxy->start();
  for (const auto& endpoint : proxy->endpoints())
    std::cout << "listening on " << keel::http::endpoint_text(endpoint) << std::endl;  // flushed: harnesses wait for it
  if (const auto admin = proxy->admin_endpoint())
    std::cout << "admin listening on " << keel::http::endpoint_text(*admin) << std::endl;
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
