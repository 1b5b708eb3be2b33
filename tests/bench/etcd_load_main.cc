// etcd_load_run: RunEtcdLoad from the command line, for measuring the etcd side of
// `vigil bench ledger` on its own (and the driver itself, with --no-fsync).
//
//   etcd_load_run --directory /tmp/etcd-bench --members 3 --seconds 60 --concurrency 256
//   etcd_load_run --directory /tmp/etcd-open --members 3 --seconds 60 --rate 1000
#include <CLI/CLI.hpp>
#include <iostream>

#include "bench/etcd_load.h"

int main(int argc, char** argv) {
  CLI::App app{"Drive an etcd cluster on loopback with 256-byte PUTs and print the result"};
  vigil::bench::EtcdClusterSpec cluster;
  vigil::bench::LoadSpec load;
  int64_t seconds = 60, warmup_seconds = 5;
  bool no_fsync = false;
  app.add_option("--directory", cluster.directory, "Data and logs of the members (kept)")
      ->required();
  app.add_option("--members", cluster.members, "Cluster size")->capture_default_str();
  app.add_flag("--no-fsync", no_fsync, "--unsafe-no-fsync: measures the driver, not etcd");
  app.add_option("--seconds", seconds, "Measured window")->capture_default_str();
  app.add_option("--warmup", warmup_seconds, "Warm-up before the window")->capture_default_str();
  app.add_option("--rate", load.offered_per_second, "Open loop at this many /s; 0: closed loop")
      ->capture_default_str();
  app.add_option("--concurrency", load.concurrency, "Requests in flight at most")
      ->capture_default_str();
  app.add_option("--value-bytes", load.value_bytes, "Bytes of each value")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  cluster.durable = !no_fsync;
  load.duration = std::chrono::seconds(seconds);
  load.warmup = std::chrono::seconds(warmup_seconds);

  auto result = vigil::bench::RunEtcdLoad(cluster, load);
  if (!result) {
    std::cerr << "etcd_load_run: " << result.error().ToString() << "\n";
    return 1;
  }
  std::cout << vigil::bench::FormatLoadResult(*result) << "\n";
  return 0;
}
