// keel: reverse-proxy HTTP load balancer. Command line: docs/operations.md, keel(8).
#include "proxy/config/config.hpp"
#include "proxy/descriptor_budget.hpp"
#include "proxy/http/address_text.hpp"
#include "proxy/log/log.hpp"
#include "proxy/proxy.hpp"
#include "proxy/service_notify.hpp"
#include "proxy/signals.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kVersion = "keel 0.1.0";

// Without --config: the quick start's conf/keel.yaml (relative to the working
// directory) when this binary runs from its build folder, else the installed
// config (KEEL_INSTALLED_CONFIG, SYSCONFDIR/keel/keel.yaml), like nginx's
// compiled-in conf path.
std::string default_config_path() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return KEEL_INSTALLED_CONFIG;
  const auto build_dir = std::filesystem::weakly_canonical(KEEL_BUILD_DIR, ec);
  if (!ec && exe.parent_path() == build_dir) return "conf/keel.yaml";
  return KEEL_INSTALLED_CONFIG;
}

std::string usage(const std::string& default_config) {
  return "usage: keel [--config FILE]        run the proxy (default " + default_config + ")\n"
         "       keel --check-config FILE    validate FILE and exit 0, or print FILE:LINE:COL errors and exit 1\n"
         "       keel --version | --help\n";
}

std::string help(const std::string& default_config) {
  return std::string(kVersion) + ": a reverse-proxy HTTP load balancer\n\n" + usage(default_config) +
         "\n"
         "options:\n"
         "  --config FILE        the YAML config to run (default " + default_config + ")\n"
         "  --check-config FILE  validate FILE like `nginx -t` and exit; warnings go to stderr\n"
         "  --version            print the version and exit\n"
         "  -h, --help           this text\n"
         "\n"
         "signals:\n"
         "  SIGHUP               reload the config file (a file that does not validate is\n"
         "                       rejected and the running config stays)\n"
         "  SIGTERM, SIGINT      stop accepting, finish in-flight requests (up to\n"
         "                       timeouts.shutdown), exit 0\n"
         "  SIGUSR1              reopen the access log file (logrotate)\n"
         "\n"
         "environment:\n"
         "  KEEL_ADMIN_TOKEN     bearer token of the admin API when admin.token_file is not set\n"
         "  KEEL_ETCD_PASSWORD   etcd password (cluster mode) when cluster.etcd.password_file is not set\n"
         "  NOTIFY_SOCKET        set by systemd (Type=notify): keel reports ready, reloading, stopping\n"
         "\n"
         "output: one 'listening on ADDRESS' line per listener and 'admin listening on ADDRESS'\n"
         "on stdout once accepting; the operational log on stderr. Exit status: 0 after a\n"
         "stop, 1 on a config or start error, 2 on a bad command line.\n"
         "\n"
         "documentation: man 8 keel; docs/ in the source tree: configuration.md,\n"
         "admin-api.md, operations.md, cluster.md, architecture.md (installed in " KEEL_DOC_DIR ")\n";
}

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
  keel::service::ready();
  proxy->wait();
  keel::log::info("keel stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string default_config = default_config_path();
  std::string config_path = default_config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << help(default_config);
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
    std::cerr << "keel: unknown or incomplete argument '" << arg << "'\n" << usage(default_config);
    return 2;
  }
  return run(config_path);
}
