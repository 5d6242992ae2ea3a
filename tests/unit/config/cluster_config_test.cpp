// The config's `cluster` section: etcd endpoints, prefix, credentials, lease.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

const std::string kAdmin = "admin:\n  address: 127.0.0.1:0\n";

// Lines: 1-2 listeners, 3 pools, 4-5 admin, 6 "cluster:", 7 on: its body.
std::string with_cluster(const std::string& body, const std::string& admin = kAdmin) {
  return kListener + kPool + admin + "cluster:\n" + body;
}

TEST(ClusterConfig, DefaultsAndEndpoints) {
  const ScopedEnvironment no_password("KEEL_ETCD_PASSWORD", std::nullopt);
  const Config config =
      load_ok(with_cluster("  etcd:\n    endpoints: [http://127.0.0.1:2379, \"https://[::1]:2379/\", https://etcd.example:443]\n"));
  ASSERT_TRUE(config.cluster);
  const Cluster& cluster = *config.cluster;
  EXPECT_EQ(cluster.instance, "") << "the default is worked out at start";
  EXPECT_EQ(cluster.prefix, "/keel/");
  EXPECT_EQ(cluster.lease_ttl, std::chrono::seconds(10));
  EXPECT_EQ(cluster.username, "");
  ASSERT_EQ(cluster.endpoints.size(), 3u);
  EXPECT_FALSE(cluster.endpoints[0].https);
  EXPECT_EQ(cluster.endpoints[0].host, "127.0.0.1");
  EXPECT_EQ(cluster.endpoints[0].port, 2379);
  EXPECT_TRUE(cluster.endpoints[1].https);
  EXPECT_EQ(cluster.endpoints[1].host, "::1");
  EXPECT_EQ(cluster.endpoints[2].host, "etcd.example");
  EXPECT_EQ(cluster.endpoints[2].url, "https://etcd.example:443");
  EXPECT_FALSE(config::parse_config(kListener + kPool + kAdmin, "x").config->cluster) << "off without the section";
}

TEST(ClusterConfig, InstancePrefixLeaseAndCredentials) {
  TemporaryDirectory directory;
  const std::string password = directory.file("password", "s3cret\n");
  const Config config = load_ok(with_cluster("  instance: lb-1\n  lease_ttl: 3s\n  etcd:\n"
                                             "    endpoints: [http://127.0.0.1:2379]\n    prefix: /prod/keel\n"
                                             "    username: keel\n    password_file: " + password + "\n"));
  EXPECT_EQ(config.cluster->instance, "lb-1");
  EXPECT_EQ(config.cluster->prefix, "/prod/keel/") << "a '/' is added";
  EXPECT_EQ(config.cluster->lease_ttl, std::chrono::seconds(3));
  EXPECT_EQ(config.cluster->username, "keel");
  EXPECT_EQ(config.cluster->password, "s3cret");

  const ScopedEnvironment from_environment("KEEL_ETCD_PASSWORD", "fromenv");
  const Config env = load_ok(with_cluster("  etcd:\n    endpoints: [http://127.0.0.1:2379]\n    username: keel\n"));
  EXPECT_EQ(env.cluster->password, "fromenv");
}

TEST(ClusterConfig, EveryMistakeIsNamed) {
  const ScopedEnvironment no_password("KEEL_ETCD_PASSWORD", std::nullopt);
  const std::string etcd = "  etcd:\n    endpoints: [http://127.0.0.1:2379]\n";
  const auto errors = [](const std::string& yaml) {
    std::string all;
    for (const auto& error : errors_of(yaml)) all += error + "\n";
    return all;
  };
  EXPECT_NE(errors(with_cluster("  instance: lb-1\n")).find("'etcd'"), std::string::npos);
  EXPECT_NE(errors(with_cluster("  etcd:\n    endpoints: [127.0.0.1:2379]\n")).find("must start with http:// or https://"),
            std::string::npos);
  EXPECT_NE(errors(with_cluster("  etcd:\n    endpoints: [http://127.0.0.1:2379/v3]\n")).find("must not have a path"),
            std::string::npos);
  EXPECT_NE(errors(with_cluster("  etcd:\n    endpoints: [http://127.0.0.1]\n")).find("invalid etcd endpoint"),
            std::string::npos);
  EXPECT_NE(errors(with_cluster("  etcd:\n    endpoints: []\n")).find("endpoints"), std::string::npos);
  EXPECT_NE(errors(with_cluster("  instance: a/b\n" + etcd)).find("without spaces or '/'"), std::string::npos);
  EXPECT_NE(errors(with_cluster("  lease_ttl: 1s\n" + etcd)).find("whole seconds from 2s to 5m"), std::string::npos);
  EXPECT_NE(errors(with_cluster("  lease_ttl: 2500ms\n" + etcd)).find("whole seconds"), std::string::npos);
  EXPECT_NE(errors(with_cluster(etcd + "    username: keel\n")).find("needs a password"), std::string::npos);
  EXPECT_NE(errors(with_cluster(etcd + "    password_file: /nonexistent/keel\n")).find("cannot read it"),
            std::string::npos);
  EXPECT_NE(errors(with_cluster(etcd + "    tls: { certificate: a.pem }\n")).find("certificate and private_key go together"),
            std::string::npos);
  EXPECT_NE(errors(with_cluster(etcd, "")).find("cluster.instance is required when there is no admin section"),
            std::string::npos);
  EXPECT_NE(errors(with_cluster(etcd + "    prefx: /x/\n")).find("prefx"), std::string::npos);
}

}  // namespace
}  // namespace keel::config
