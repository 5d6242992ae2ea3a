// Active health checks of a pool with `tls`: the probe speaks HTTPS with the
// pool's client settings (ca_file, verify, server_name or the backend's host),
// as the workers do. The TLS backends are keel instances with an HTTPS listener
// in front of a plain TestBackend, with certificates the test makes.
#include "proxy/control/http_prober.hpp"
#include "proxy/tls/upstream_context.hpp"
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_certificates.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using health::CheckSettings;
using health::ProbeResult;

// A temporary directory holding a CA's certificate (ca.crt) and the leaves it issues.
class Certificates {
 public:
  explicit Certificates(const std::string& ca_name) : ca_(ca_name) {
    static std::atomic<int> counter{0};
    dir_ = ::testing::TempDir() + "keel-tls-check-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::filesystem::create_directories(dir_);
    ca_.write_certificate(ca_file());
  }
  ~Certificates() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string ca_file() const { return dir_ + "/ca.crt"; }
  const std::string& dir() const { return dir_; }
  CertificateFiles issue(const std::string& stem, const std::vector<std::string>& names) {
    return ca_.issue(dir_, stem, names);
  }

 private:
  std::string dir_;
  TestCertificateAuthority ca_;
};

// An HTTPS backend: keel with a TLS listener whose certificate is for `names`,
// forwarding to a plain TestBackend (which sees what the probes ask).
class TlsBackend {
 public:
  TlsBackend(Certificates& certificates, const std::string& stem, const std::vector<std::string>& names)
      : files_(certificates.issue(stem, names)),
        keel_("workers: 1\nlisteners:\n  - address: 127.0.0.1:0\n    tls: { certificate: \"" + files_.certificate +
              "\", private_key: \"" + files_.private_key + "\" }\npools:\n  - name: inner\n    backends:\n" +
              "      - { address: \"" + backend.address() + "\" }\n") {}
  std::string address() const { return keel_.address(); }
  std::uint16_t port() const {
    const std::string address = keel_.address();
    return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  }

  TestBackend backend;

 private:
  CertificateFiles files_;
  KeelUnderTest keel_;
};

config::UpstreamTls upstream_tls(bool verify, std::string ca_file = {}, std::string server_name = {}) {
  config::UpstreamTls settings;
  settings.verify = verify;
  settings.ca_file = std::move(ca_file);
  settings.server_name = std::move(server_name);
  return settings;
}

std::shared_ptr<const health::ProbeTransport> tls_transport(const config::UpstreamTls& settings) {
  return std::make_shared<control::TlsProbeTransport>(tls::UpstreamContext::build(settings));
}

// One probe of `target` over `transport` on a fresh io_context, run on this thread.
ProbeResult probe_once(const health::ProbeTarget& target, std::shared_ptr<const health::ProbeTransport> transport) {
  asio::io_context ioc;
  control::HttpProber prober{ioc};
  CheckSettings settings;
  settings.timeout = std::chrono::milliseconds(2000);
  settings.transport = std::move(transport);
  std::optional<ProbeResult> result;
  prober.probe(target, settings, [&](ProbeResult r) { result = std::move(r); });
  ioc.run_for(kDefaultDeadline);
  EXPECT_TRUE(result) << "no result within the deadline";
  return result.value_or(ProbeResult{false, "<no result>"});
}

TEST(TlsHealthCheck, VerifiedBackendIsCheckedOverTls) {
  Certificates certificates("keel test CA");
  TlsBackend backend(certificates, "good", {"localhost", "127.0.0.1"});
  const auto result = probe_once({.backend_id = 1, .address = backend.address()},
                                 tls_transport(upstream_tls(true, certificates.ca_file())));
  EXPECT_TRUE(result.passed) << result.detail;
  EXPECT_EQ(result.detail, "status 200");
  const auto seen = backend.backend.next_request(kDefaultDeadline);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->target, "/healthz");
  EXPECT_EQ(seen->at("X-Forwarded-Proto"), "https");  // set by the TLS backend: it came over TLS
}

TEST(TlsHealthCheck, UntrustedCertificateFailsWithTheReasonUnlessVerificationIsOff) {
  Certificates trusted("keel test CA"), other("another test CA");
  TlsBackend backend(other, "stranger", {"localhost", "127.0.0.1"});
  const auto result = probe_once({.backend_id = 1, .address = backend.address()},
                                 tls_transport(upstream_tls(true, trusted.ca_file())));
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.detail.rfind("TLS handshake failed: certificate verify failed", 0), 0u) << result.detail;
  EXPECT_NE(result.detail.find("unable to get local issuer certificate"), std::string::npos) << result.detail;
  EXPECT_EQ(backend.backend.request_count(), 0u);

  const auto lax = probe_once({.backend_id = 1, .address = backend.address()}, tls_transport(upstream_tls(false)));
  EXPECT_TRUE(lax.passed) << lax.detail;
}

TEST(TlsHealthCheck, NameComesFromServerNameOrTheConfiguredHost) {
  Certificates certificates("keel test CA");
  TlsBackend backend(certificates, "named", {"localhost"});  // no IP entry
  const std::string by_ip = backend.address();
  const std::string by_name = "localhost:" + std::to_string(backend.port());
  const config::UpstreamTls verify = upstream_tls(true, certificates.ca_file());

  // Probed at its IP, checked against the host it was configured with.
  EXPECT_TRUE(probe_once({.backend_id = 1, .address = by_ip, .name = by_name}, tls_transport(verify)).passed);
  const auto wrong_host = probe_once({.backend_id = 1, .address = by_ip}, tls_transport(verify));
  EXPECT_FALSE(wrong_host.passed);
  EXPECT_NE(wrong_host.detail.find("IP address mismatch"), std::string::npos) << wrong_host.detail;

  // server_name wins over the host.
  auto named = verify;
  named.server_name = "localhost";
  EXPECT_TRUE(probe_once({.backend_id = 1, .address = by_ip}, tls_transport(named)).passed);
  named.server_name = "other.test";
  const auto mismatch = probe_once({.backend_id = 1, .address = by_ip, .name = by_name}, tls_transport(named));
  EXPECT_FALSE(mismatch.passed);
  EXPECT_NE(mismatch.detail.find("hostname mismatch"), std::string::npos) << mismatch.detail;
}

TEST(TlsHealthCheck, PlainHttpBackendFailsTheTlsCheck) {
  TestBackend plain;
  const auto result = probe_once({.backend_id = 1, .address = plain.address()}, tls_transport(upstream_tls(false)));
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.detail.rfind("TLS handshake failed: ", 0), 0u) << result.detail;
}

// A config file in the test's temp dir, removed by the destructor.
class TempConfig {
 public:
  explicit TempConfig(const std::string& yaml)
      : path_(::testing::TempDir() + "keel-tls-check-" + std::to_string(::getpid()) + ".yaml") {
    std::ofstream(path_) << yaml;
  }
  ~TempConfig() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// keel as a process: a TLS pool with health checks, accepted at load, marks the
// verified backend healthy and the others unhealthy, says why in its log, and
// sends traffic only to the healthy one.
TEST(TlsHealthCheck, KeelChecksATlsPoolAndLogsWhyABackendFails) {
  Certificates trusted("keel test CA"), other("another test CA");
  TlsBackend good(trusted, "good", {"localhost", "127.0.0.1"});
  TlsBackend stranger(other, "stranger", {"localhost", "127.0.0.1"});
  TestBackend plain{"plain"};
  good.backend.set_reply(Reply::text("from good"));
  TempConfig config("workers: 1\nlisteners:\n  - address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.1:0\n"
                    "pools:\n  - name: web\n    retries: 0\n    tls: { ca_file: \"" + trusted.ca_file() + "\" }\n"
                    "    health_check: { path: /healthz, interval: 200ms, timeout: 150ms, unhealthy_threshold: 1 }\n"
                    "    backends:\n      - { address: \"" + good.address() + "\" }\n" +
                    "      - { address: \"" + stranger.address() + "\" }\n" +
                    "      - { address: \"" + plain.address() + "\" }\n");
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  const auto listening = keel.wait_for_line("listening on ");
  ASSERT_TRUE(listening) << keel.output(ChildProcess::Output::err);
  const auto admin_line = keel.wait_for_line("admin listening on ");
  ASSERT_TRUE(admin_line) << keel.output(ChildProcess::Output::err);
  const std::string admin_address = admin_line->substr(std::string("admin listening on ").size());

  const auto health_of = [&](const std::string& address) {
    TestClient admin{admin_address};
    const auto response = admin.get("/api/v1/pools/web");
    if (response.result_int() != 200) return std::string("<no answer>");
    const json::value pool = json::parse(response.body());
    for (const auto& backend : pool.as_object().at("backends").as_array())
      if (backend.as_object().at("address").as_string() == address)
        return std::string(backend.as_object().at("health").as_string());
    return std::string("<absent>");
  };
  EXPECT_TRUE(wait_until([&] { return health_of(good.address()) == "healthy"; }, kDefaultDeadline))
      << health_of(good.address()) << "\n" << keel.output(ChildProcess::Output::err);
  for (const std::string& sick : {stranger.address(), plain.address()})
    EXPECT_TRUE(wait_until([&] { return health_of(sick) == "unhealthy"; }, kDefaultDeadline))
        << sick << ": " << health_of(sick) << "\n" << keel.output(ChildProcess::Output::err);

  const std::string log = keel.output(ChildProcess::Output::err);
  EXPECT_NE(log.find("backend " + stranger.address() + " is unhealthy (TLS handshake failed: certificate verify failed"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("backend " + plain.address() + " is unhealthy (TLS handshake failed: "), std::string::npos) << log;
  EXPECT_EQ(stranger.backend.request_count(), 0u);
  EXPECT_GE(good.backend.request_count(), 1u);  // its checks, over TLS

  // Every worker has the health: a round of the three backends is all good.
  const std::string proxy_address = *listening_address(*listening);
  TestClient client{proxy_address};
  EXPECT_TRUE(wait_until(
      [&] {
        int good_answers = 0;
        for (int i = 0; i < 3; ++i) good_answers += client.get("/").body() == "from good";
        return good_answers == 3;
      },
      kDefaultDeadline));
  for (int i = 0; i < 6; ++i) {
    const auto response = client.get("/");
    EXPECT_EQ(response.result_int(), 200) << response.ec.message();
    EXPECT_EQ(response.body(), "from good");
  }
  ASSERT_TRUE(keel.signal(SIGTERM));
  EXPECT_EQ(keel.wait_exit(kDefaultDeadline), 0) << keel.output(ChildProcess::Output::err);
}

}  // namespace
}  // namespace keel::test
