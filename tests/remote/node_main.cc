// A second process for the remoting tests: an actor system with remoting on
// loopback, an "echo" actor and the "echo" kind. Prints "PORT <n>" once it
// serves, then runs until its stdin closes (the test ends or dies).
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "port_child.h"
#include "remote_actors.h"

int main(int argc, char** argv) {
  akt::SystemOptions so;
  so.name = "node";
  so.workers = 2;
  so.logger = akt::MakeNullLogger();
  akt::RemoteOptions ro;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--name") so.name = v;
    if (k == "--port") ro.port = static_cast<uint16_t>(std::stoi(v));
    if (k == "--compression") {
      ro.compression = v == "zstd"     ? akt::Compression::kZstd
                       : v == "gzip"   ? akt::Compression::kGzip
                       : v == "brotli" ? akt::Compression::kBrotli
                                       : akt::Compression::kNone;
    }
  }
  akt::ActorSystem system(so);
  if (!system.Start().ok()) return 1;
  auto remoting = akt::Remoting::Enable(system, ro);
  if (!remoting.ok()) {
    std::fprintf(stderr, "remoting: %s\n", remoting.status().ToString().c_str());
    return 1;
  }
  akt::test::RegisterTestKinds(system, **remoting);
  if (!system.Spawn<akt::test::RemoteEcho>("echo").ok()) return 1;
  akt::support::ServeUntilStdinCloses((*remoting)->port());
  return system.Stop().ok() ? 0 : 2;
}
