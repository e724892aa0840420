// Result<T>: a value or an Error carrying a short human reason.
// Used across package boundaries instead of exceptions (see STYLE.md). Value
// type, no shared state: thread-safety is that of T.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace hopgate {

// Canonical error codes, after absl::StatusCode: what kind of failure, for
// code that must react to it. The message is for people only: no code
// decides anything by reading it.
enum class Code {
  kUnknown = 0,
  kInvalidArgument,    // malformed input: a config, a key, a packet
  kNotFound,           // a file, a name, a key that is not there
  kPermissionDenied,   // refused by a rule, a check or the file system
  kUnauthenticated,    // a credential that does not hold
  kDeadlineExceeded,   // timed out
  kUnavailable,        // a peer that is down or refuses; try again later
  kResourceExhausted,  // a limit, a full disk
  kFailedPrecondition, // the state does not allow it (shutting down, ...)
  kAlreadyExists,
  kUnimplemented,      // known but not supported
  kDataLoss,           // an audit event or a recording that could not be written
  kInternal,
};
const char* CodeName(Code code);

struct Error {
  std::string message;
  Code code = Code::kUnknown;
  // A domain reason, an enum of the package that made the error (for
  // example certs::CertRefusal), when callers need finer than `code`.
  int reason = 0;
  // Parse errors: the 1-based line the error is on (0: none).
  int line = 0;
};

inline Error MakeError(Code code, std::string message, int reason = 0) {
  return Error{std::move(message), code, reason, 0};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit on purpose
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit on purpose

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  const std::string& message() const { return std::get<1>(v_).message; }
  Code code() const { return ok() ? Code::kUnknown : std::get<1>(v_).code; }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  static Status Ok() { return Status(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  const std::string& message() const { return error_.message; }
  Code code() const { return error_.code; }

 private:
  Error error_;
  bool ok_ = true;
};

inline const char* CodeName(Code code) {
  switch (code) {
    case Code::kUnknown: return "unknown";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kDeadlineExceeded: return "deadline_exceeded";
    case Code::kUnavailable: return "unavailable";
    case Code::kResourceExhausted: return "resource_exhausted";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kUnimplemented: return "unimplemented";
    case Code::kDataLoss: return "data_loss";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace hopgate
