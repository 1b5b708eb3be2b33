// Asking a peer for the fleet's compliance: shared by `vigil compliance` and `vigil demo`.
#pragma once

#include <string>

#include "api/client.h"
#include "common/error.h"
#include "compliance/report.h"

namespace vigil::cli {

// Every page of the peer's compliance answer for `group` ("" = every group), each asked after
// the last device of the previous one (at most limits::kCliCompliancePagesMax), as one report.
Expected<compliance::ComplianceReport> FetchComplianceReport(api::ApiClient& client,
                                                             const std::string& group);

}  // namespace vigil::cli
