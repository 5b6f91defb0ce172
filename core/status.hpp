// Status and Result<T>: how errors travel inside rsdat.
//
// A short list of codes (mirrors wire::ErrorCode). Bugs are check failures
// (RSDAT_CHECK), never a Status. Thread-compatible value types.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace rsdat {

enum class StatusCode {
  kOk = -1,
  kInvalidArgument = 0,
  kNotFound,
  kIO,
  kOutOfMemory,
  kTimedOut,
  kUnavailable,
  kCancelled,
  kProtocol,
  kTaskError,
  kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // True for errors a caller may retry (a peer or the transport was unavailable).
  bool retryable() const { return code_ == StatusCode::kUnavailable || code_ == StatusCode::kTimedOut; }
  // Prepends context: "reading chunk (3, 7): " + message.
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(code_, context + ": " + message_);
  }
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIO, std::move(m)}; }
inline Status out_of_memory(std::string m) { return {StatusCode::kOutOfMemory, std::move(m)}; }
inline Status timed_out(std::string m) { return {StatusCode::kTimedOut, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status protocol_error(std::string m) { return {StatusCode::kProtocol, std::move(m)}; }
inline Status task_error(std::string m) { return {StatusCode::kTaskError, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& msg);

// A value or the Status saying why there is none. Reading the value of an error is a
// bug: value(), * and -> fail a check naming the status (never undefined behaviour).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.is_ok()) status_ = internal_error("Result built from an ok Status");
  }
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return checked(); }
  const T& value() const& { return checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &checked(); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return checked(); }

 private:
  T& checked() {
    if (!value_) check_failed(__FILE__, __LINE__, "Result::value()", "on an error: " + status_.to_string());
    return *value_;
  }
  const T& checked() const { return const_cast<Result*>(this)->checked(); }

  std::optional<T> value_;
  Status status_;
};

namespace detail {
// The status as it is, or with `context` prepended (the macros' optional argument).
inline Status annotate(Status s) { return s; }
template <typename C>
Status annotate(const Status& s, C&& context) {
  return s.with_context(std::string(std::forward<C>(context)));
}
}  // namespace detail

}  // namespace rsdat

#define RSDAT_CHECK(cond)                                                   \
  do {                                                                      \
    if (!(cond)) ::rsdat::check_failed(__FILE__, __LINE__, #cond, "");      \
  } while (0)
#define RSDAT_CHECK_MSG(cond, msg)                                          \
  do {                                                                      \
    if (!(cond)) ::rsdat::check_failed(__FILE__, __LINE__, #cond, (msg));   \
  } while (0)

#define RSDAT_CONCAT_INNER(a, b) a##b
#define RSDAT_CONCAT(a, b) RSDAT_CONCAT_INNER(a, b)

// Return the error of `expr` (a Status or a Result) from the enclosing function, with
// an optional context prepended on the way up:
//   RSDAT_RETURN_IF_ERROR(disk.write(path, bytes), "spilling " + key.to_string());
//   RSDAT_ASSIGN_OR_RETURN(Chunk c, store.load(key), "reading " + key.to_string());
// The context is only evaluated on an error.
#define RSDAT_RETURN_IF_ERROR(expr, ...)                                      \
  do {                                                                        \
    ::rsdat::Status _st = (expr);                                             \
    if (!_st.is_ok()) return ::rsdat::detail::annotate(_st __VA_OPT__(, ) __VA_ARGS__); \
  } while (0)

#define RSDAT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr, ...)                                           \
  auto tmp = (expr);                                                                               \
  if (!tmp.ok()) return ::rsdat::detail::annotate(tmp.status() __VA_OPT__(, ) __VA_ARGS__);       \
  lhs = std::move(tmp).value()

#define RSDAT_ASSIGN_OR_RETURN(lhs, expr, ...) \
  RSDAT_ASSIGN_OR_RETURN_IMPL(RSDAT_CONCAT(_res_, __LINE__), lhs, expr __VA_OPT__(, ) __VA_ARGS__)
