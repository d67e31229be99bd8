// TLS for remoting connections: contexts are configured through asio::ssl,
// sessions are plain OpenSSL objects driven by the connection's own I/O.
#pragma once

#include <string>

#include "akt/remote.h"
#include "akt/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace akt::remote {

// A context for the server or the client side of `options`; the caller owns
// one reference (FreeTlsContext).
Result<SSL_CTX*> MakeTlsContext(const TlsOptions& options, bool server);
void FreeTlsContext(SSL_CTX* ctx);
// A session on `fd`. A client checks the server's certificate against
// `host` (an IP address or a DNS name).
SSL* NewTlsSession(SSL_CTX* ctx, int fd, bool server, const std::string& host);

}  // namespace akt::remote
