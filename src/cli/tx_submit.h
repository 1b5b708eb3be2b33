// Signing and submitting one transaction the way `vigil tx submit` does, for the commands that
// build a body of their own (`vigil activate`, `vigil activate-rules`): the signer (--key and
// --co-sign, or with --cluster the cluster's admins for governance), its next sequence read
// from the chain unless --sequence, the local stateless check, then submit and wait for commit.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "api/messages.h"
#include "cli/peer_target.h"
#include "common/error.h"
#include "ledger/transaction.h"

namespace vigil::cli {

struct SubmitFlags {
  PeerTarget target;
  std::string key;
  std::vector<std::string> co_sign;
  std::optional<uint64_t> sequence;
  bool no_wait = false;
  bool json = false;
};

// --key, --co-sign, --sequence, --json and the peer target flags (--cluster, --peer, --as).
void AddGovernanceSubmitFlags(CLI::App& command, SubmitFlags& flags);

struct Submitted {
  api::SubmitResponse response;
  ledger::Envelope envelope;
};

// Signs `body` and submits it, waiting for its commit unless --no-wait. A transport failure is
// an error; an answer (committed, refused, pending) is returned for the caller to report.
Expected<Submitted> SubmitBody(const ledger::Body& body, const SubmitFlags& flags);

// `vigil activate --group G --app A --version V (--next | --at-height N) --min-installed 100%
// --on-missing halt` against a local cluster, signed by its admins (what `vigil demo` and
// `vigil bench activation` do): the committed answer, or the ledger's refusal as one sentence
// (with its counts). Defined with `vigil activate` (activate_command.cc).
Expected<api::SubmitResponse> ActivateInCluster(const std::string& cluster_directory,
                                                const std::string& group, const std::string& app,
                                                const std::string& version,
                                                std::optional<uint64_t> at_height);

// The fields of an activation as `vigil tx show` and `vigil activate --json` print them.
nlohmann::json ActivateReleaseJson(const ledger::ActivateRelease& body);

}  // namespace vigil::cli
