// Error values for all of Vigil (STYLE.md rule 4).
//
// Every fallible function returns `Expected<T>` (std::expected<T, Error>) or `Status`
// (Expected<void>). No exception crosses a module boundary. An Error carries a code a
// program can branch on and a message a person can act on: what failed, on what input,
// and what to do. Context is prepended as the error propagates:
//
//   auto key = LoadPrivateKey(path);
//   if (!key) return std::unexpected(key.error().WithContext("loading peer identity"));
//
// Thread-safety: Error is a plain value type.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace vigil {

// DO NOT CHANGE the numeric values: codes travel in ledger results and wire replies.
enum class ErrorCode : uint8_t {
  kInvalidArgument = 1,    // the caller passed something malformed or out of range
  kCorruption = 2,         // stored or received bytes fail their own checks
  kNotFound = 3,           // the named thing does not exist
  kAlreadyExists = 4,      // creating something that is already there
  kPermissionDenied = 5,   // file permissions or role forbid the operation
  kUnauthenticated = 6,    // a signature, certificate or identity failed verification
  kRefused = 7,            // well-formed but rejected by policy (e.g. wrong role)
  kResourceExhausted = 8,  // a named limit was reached (queue full, too many connections)
  kTimeout = 9,            // a deadline passed
  kUnavailable = 10,       // a peer or service cannot be reached now; retrying may help
  kIOError = 11,           // the operating system reported a failure
  kInternal = 12,          // a bug in Vigil or in a library it uses
};

std::string_view ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns "context: message" so the outermost caller's words come first.
  Error WithContext(std::string_view context) const;

  // "Corruption: <message>", for logs and command-line output.
  std::string ToString() const;

  friend bool operator==(const Error&, const Error&) = default;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Expected = std::expected<T, Error>;
using Status = Expected<void>;

// Shorthand for `return std::unexpected(Error(code, message));`.
inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected(Error(code, std::move(message)));
}

inline Status Ok() { return {}; }

}  // namespace vigil

// Propagates an error from an expression returning Status.
#define VIGIL_RETURN_IF_ERROR(expression)                                  \
  do {                                                                     \
    if (auto vigil_status_ = (expression); !vigil_status_) {               \
      return std::unexpected(std::move(vigil_status_).error());            \
    }                                                                      \
  } while (false)

#define VIGIL_CONCAT_INNER_(a, b) a##b
#define VIGIL_CONCAT_(a, b) VIGIL_CONCAT_INNER_(a, b)

// `VIGIL_ASSIGN_OR_RETURN(auto value, ComputeExpected());` declares `value` from an
// Expected<T>, or returns its error from the enclosing function.
#define VIGIL_ASSIGN_OR_RETURN(declaration, expression) \
  VIGIL_ASSIGN_OR_RETURN_IMPL_(VIGIL_CONCAT_(vigil_expected_, __LINE__), declaration, expression)
#define VIGIL_ASSIGN_OR_RETURN_IMPL_(temporary, declaration, expression) \
  auto temporary = (expression);                                         \
  if (!temporary) return std::unexpected(std::move(temporary).error());  \
  declaration = std::move(temporary).value()
