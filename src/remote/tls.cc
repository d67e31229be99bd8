#include "tls.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <asio/ssl/context.hpp>

namespace akt::remote {

Result<SSL_CTX*> MakeTlsContext(const TlsOptions& o, bool server) {
  try {
    asio::ssl::context ctx(server ? asio::ssl::context::tls_server
                                  : asio::ssl::context::tls_client);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    if (!o.cert_file.empty()) {
      ctx.use_certificate_chain_file(o.cert_file);
      ctx.use_private_key_file(o.key_file, asio::ssl::context::pem);
    } else if (server) {
      return InvalidArgumentError("TLS: a server needs cert_file and key_file");
    }
    if (!o.ca_file.empty()) ctx.load_verify_file(o.ca_file);
    if (server) {
      ctx.set_verify_mode(o.require_client_cert ? asio::ssl::verify_peer |
                                                      asio::ssl::verify_fail_if_no_peer_cert
                                                : asio::ssl::verify_none);
    } else {
      if (o.ca_file.empty()) return InvalidArgumentError("TLS: a client needs ca_file");
      ctx.set_verify_mode(asio::ssl::verify_peer);
    }
    SSL_CTX* raw = ctx.native_handle();
    SSL_CTX_set_mode(raw, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_up_ref(raw);  // outlives the asio wrapper
    return raw;
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("TLS configuration: ") + e.what());
  }
}

void FreeTlsContext(SSL_CTX* ctx) {
  if (ctx != nullptr) SSL_CTX_free(ctx);
}

SSL* NewTlsSession(SSL_CTX* ctx, int fd, bool server, const std::string& host) {
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    unsigned char buf[16];
    if (inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
      SSL_set_tlsext_host_name(ssl, host.c_str());
    }
  }
  return ssl;
}

}  // namespace akt::remote
