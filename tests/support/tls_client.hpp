// A blocking-style HTTPS client for tests: each step runs its own io_context
// for at most a deadline, so a proxy that never answers fails the test instead
// of hanging it. Exposes what TLS tests check: the negotiated ALPN protocol and
// version, the server's certificate name, whether the session was resumed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace keel::test {

struct TlsClientOptions {
  std::string ca_file;      // trusted CA; empty: no verification
  std::string server_name;  // SNI and the name verified; empty: neither
  int min_version = 0;      // TLS1_2_VERSION etc.; 0: library default
  int max_version = 0;
  // Wire format. Only http/1.1: a listener with http2 would choose h2 for a
  // client that offers it, and this client speaks HTTP/1.1.
  std::string alpn = std::string("\x08http/1.1", 9);
  SSL_SESSION* session = nullptr;  // to resume (not owned)
  bool allow_legacy = false;       // security level 0, for TLS 1.0/1.1 refusal tests
};

class TlsClient {
 public:
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  TlsClient(const std::string& address, TlsClientOptions options,
            std::chrono::milliseconds deadline = std::chrono::seconds(5));
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // TCP connect and TLS handshake; the error of the first that failed.
  boost::system::error_code connect();
  // GET `target` (Host: keel.test, keep-alive) and its response; throws on failure.
  Response get(const std::string& target);
  // Raw bytes, one TLS record per call (pipelining tests), and the next response.
  void write(const std::string& bytes);
  Response read_response();
  // Exactly `size` raw bytes (after a 101, say), or what came before an error.
  std::string read_exactly(std::size_t size);

  std::string alpn() const;
  std::string version() const;  // "TLSv1.3"
  std::string peer_common_name() const;
  bool resumed() const;
  // The session to resume with (owned by the caller: SSL_SESSION_free).
  SSL_SESSION* session() const;

 private:
  template <class Operation>
  boost::system::error_code run(Operation operation);

  std::string address_;
  TlsClientOptions options_;
  std::chrono::milliseconds deadline_;
  boost::asio::io_context io_;
  boost::asio::ssl::context context_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace keel::test
