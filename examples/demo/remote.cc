// The demo's second part: two actor systems in two processes on loopback.
// This process ("shop") starts a "bank" process (this same program with
// --bank), spawns account actors there by kind, streams deposits to them
// (one-way, batched on the wire) and asks for the balances.
#include <akt/akt.h>
#include <akt/remote.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bank.pb.h"
#include "port_child.h"

namespace {

using namespace std::chrono_literals;

class Account : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override {
    ctx.Match(
        [&](const demo::Deposit& d) {
          cents_ += d.cents();
          ++deposits_;
        },
        [&](const demo::GetBalance&) {
          demo::Balance b;
          b.set_account(std::string(ctx.self().Name()));
          b.set_cents(cents_);
          b.set_deposits(deposits_);
          ctx.Reply(std::move(b)).IgnoreError();
        });
  }

 private:
  int64_t cents_ = 0;
  int64_t deposits_ = 0;
};

// One grain per wallet: it exists in principle, is activated on the bank by
// its first message and deactivates when idle.
class Wallet : public akt::Grain {
 public:
  void OnReceive(akt::GrainContext& ctx) override {
    ctx.Match(
        [&](const demo::Deposit& d) {
          cents_ += d.cents();
          ++deposits_;
        },
        [&](const demo::GetBalance&) {
          demo::Balance b;
          b.set_account(ctx.self().String());
          b.set_cents(cents_);
          b.set_deposits(deposits_);
          ctx.Reply(std::move(b)).IgnoreError();
        });
  }

 private:
  int64_t cents_ = 0;
  int64_t deposits_ = 0;
};

}  // namespace

// The bank process: serves remoting, knows the "account" kind, runs until
// its stdin closes.
int RunBankNode() {
  akt::SystemOptions so;
  so.name = "bank";
  so.logger = akt::MakeStderrLogger(akt::LogLevel::kError);
  akt::ActorSystem system(so);
  if (!system.Start().ok()) return 1;
  akt::RemoteOptions ro;
  ro.host = "127.0.0.1";
  ro.compression = akt::Compression::kZstd;
  auto remoting = akt::Remoting::Enable(system, ro);
  if (!remoting.ok()) {
    std::fprintf(stderr, "bank: %s\n", remoting.status().ToString().c_str());
    return 1;
  }
  (*remoting)->RegisterKind("account", akt::Context::MakeFactory<Account>()).IgnoreError();
  akt::GrainOptions wallets;
  wallets.WithDeactivateAfter(30s);
  system.RegisterGrainKind("wallet", akt::MakeGrainFactory<Wallet>(), wallets).IgnoreError();
  akt::support::ServeUntilStdinCloses((*remoting)->port());
  return system.Stop().ok() ? 0 : 1;
}

// The shop side; true when every figure adds up.
bool RunRemoteDemo(const char* self) {
  // The bank: this program again, in a process of its own.
  akt::support::PortChild bank(self, {"--bank"});
  if (bank.port() == 0) {
    std::fprintf(stderr, "the bank process did not start\n");
    return false;
  }

  akt::SystemOptions so;
  so.name = "shop-remote";
  so.logger = akt::MakeStderrLogger(akt::LogLevel::kError);
  akt::ActorSystem system(so);
  bool ok = system.Start().ok();
  akt::RemoteOptions ro;
  ro.compression = akt::Compression::kZstd;
  auto remoting = akt::Remoting::Enable(system, ro);
  ok = ok && remoting.ok();
  std::string bank_ep = bank.endpoint();
  std::printf("\nakt demo, part 2: two processes on loopback (shop pid %d -> bank pid %d at %s,\n"
              "          zstd-compressed protobuf frames)\n",
              static_cast<int>(::getpid()), static_cast<int>(bank.pid()), bank_ep.c_str());
  constexpr int kAccounts = 4;
  constexpr int64_t kDeposits = 400000;
  std::vector<akt::PID> accounts;
  for (int i = 0; ok && i < kAccounts; ++i) {
    auto pid = (*remoting)->SpawnRemote(bank_ep, "acct-" + std::to_string(i), "account");
    if (!pid.ok()) {
      std::fprintf(stderr, "remote spawn failed: %s\n", pid.status().ToString().c_str());
      ok = false;
      break;
    }
    accounts.push_back(*pid);
  }
  if (ok) std::printf("  remote spawn:          %d account actors, e.g. %s\n", kAccounts,
                      accounts[0].Address().c_str());
  auto t0 = std::chrono::steady_clock::now();
  int64_t expected = 0;
  for (int64_t i = 0; ok && i < kDeposits; i += 1000) {
    // 1000 deposits per batch: one write on the wire.
    std::vector<akt::Message> batch;
    for (int64_t j = i; j < i + 1000; ++j) {
      demo::Deposit d;
      d.set_cents(j % 100 + 1);
      expected += j % 100 + 1;
      batch.emplace_back(std::move(d));
    }
    ok = accounts[static_cast<std::size_t>((i / 1000) % kAccounts)].BatchTell(std::move(batch)).ok();
  }
  int64_t total = 0, deposits = 0;
  for (auto& a : accounts) {
    if (!ok) break;
    auto b = a.Ask<demo::Balance>(demo::GetBalance(), 30s);  // after its deposits, in order
    if (!b.ok()) {
      std::fprintf(stderr, "ask failed: %s\n", b.status().ToString().c_str());
      ok = false;
      break;
    }
    total += b->cents();
    deposits += b->deposits();
    std::printf("  ask %-18s balance %.2f after %lld deposits\n", b->account().c_str(),
                b->cents() / 100.0, static_cast<long long>(b->deposits()));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ok) {
    auto st = (*remoting)->Stats();
    std::printf("  remote tells:          %lld deposits in %.3f s = %.0f msgs/s across processes\n",
                static_cast<long long>(deposits), secs, static_cast<double>(deposits) / secs);
    std::printf("  on the wire:           %llu frames in %llu writes, %.1f MB sent\n",
                static_cast<unsigned long long>(st.frames_sent),
                static_cast<unsigned long long>(st.write_calls), st.bytes_sent / 1e6);
  }
  ok = ok && deposits == kDeposits && total == expected;

  // Grains: 1000 wallets on the bank, each activated by its first deposit.
  constexpr int kWallets = 1000;
  constexpr int kPerWallet = 50;
  auto g0 = std::chrono::steady_clock::now();
  for (int round = 0; ok && round < kPerWallet; ++round) {
    for (int w = 0; w < kWallets; ++w) {
      demo::Deposit d;
      d.set_cents(w + 1);
      auto id = akt::GrainIdentity::Make("wallet", "w-" + std::to_string(w));
      ok = (*remoting)->TellGrain(bank_ep, *id, std::move(d)).ok();
      if (!ok) break;
    }
  }
  int64_t wallet_total = 0, wallet_deposits = 0;
  for (int w = 0; ok && w < kWallets; ++w) {
    auto id = akt::GrainIdentity::Make("wallet", "w-" + std::to_string(w));
    auto b = (*remoting)->AskGrain(bank_ep, *id, demo::GetBalance(), 30s);
    if (!b.ok() || b->As<demo::Balance>() == nullptr) {
      std::fprintf(stderr, "grain ask failed: %s\n", b.status().ToString().c_str());
      ok = false;
      break;
    }
    wallet_total += b->As<demo::Balance>()->cents();
    wallet_deposits += b->As<demo::Balance>()->deposits();
    if (w == 7) {
      std::printf("  grain ask %-12s balance %.2f after %lld deposits\n",
                  b->As<demo::Balance>()->account().c_str(), b->As<demo::Balance>()->cents() / 100.0,
                  static_cast<long long>(b->As<demo::Balance>()->deposits()));
    }
  }
  double gsecs = std::chrono::duration<double>(std::chrono::steady_clock::now() - g0).count();
  if (ok) {
    std::printf("  grains:                %d wallets activated on the bank by their first deposit;\n"
                "                         %lld deposits + %d asks in %.3f s = %.0f msgs/s\n",
                kWallets, static_cast<long long>(wallet_deposits), kWallets, gsecs,
                (wallet_deposits + kWallets) / gsecs);
  }
  int64_t wallet_expected = int64_t{kPerWallet} * kWallets * (kWallets + 1) / 2;
  ok = ok && wallet_deposits == int64_t{kPerWallet} * kWallets && wallet_total == wallet_expected;
  accounts.clear();
  system.Stop().IgnoreError();
  ok = bank.Finish() == 0 && ok;  // the bank stops when its stdin closes
  std::printf("  bank process exited:   %s\n", ok ? "cleanly" : "with an error");
  return ok;
}
