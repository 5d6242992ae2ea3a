// getaddrinfo for the fuzz targets: a host name the fuzzer writes must never
// become a DNS query (slow, and not reproducible). "localhost" is 127.0.0.1 and
// every other name is unknown. Linking this file overrides the C library's
// functions for the whole target (IP literals never reach getaddrinfo in keel).
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cstring>
#include <new>

extern "C" int getaddrinfo(const char* node, const char*, const addrinfo* hints, addrinfo** result) {
  *result = nullptr;
  if (node == nullptr || std::strcmp(node, "localhost") != 0) return EAI_NONAME;
  if (hints != nullptr && hints->ai_family == AF_INET6) return EAI_NONAME;
  auto* address = new (std::nothrow) sockaddr_in{};
  auto* info = new (std::nothrow) addrinfo{};
  if (address == nullptr || info == nullptr) {
    delete address;
    delete info;
    return EAI_MEMORY;
  }
  address->sin_family = AF_INET;
  address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  info->ai_family = AF_INET;
  info->ai_socktype = SOCK_STREAM;
  info->ai_addrlen = sizeof(sockaddr_in);
  info->ai_addr = reinterpret_cast<sockaddr*>(address);
  *result = info;
  return 0;
}

extern "C" void freeaddrinfo(addrinfo* info) {
  while (info != nullptr) {
    addrinfo* next = info->ai_next;
    delete reinterpret_cast<sockaddr_in*>(info->ai_addr);
    delete info;
    info = next;
  }
}
