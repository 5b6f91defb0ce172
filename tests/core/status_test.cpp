#include "core/status.hpp"

#include <gtest/gtest.h>

namespace rsdat {
namespace {

Result<int> half(int v) {
  if (v % 2) return invalid_argument(std::to_string(v) + " is odd");
  return v / 2;
}

Status quarter_into(int v, int& out) {
  RSDAT_ASSIGN_OR_RETURN(int h, half(v), "halving " + std::to_string(v));
  RSDAT_ASSIGN_OR_RETURN(out, half(h));
  return Status::ok();
}

Status check_even(int v) {
  RSDAT_RETURN_IF_ERROR(half(v).status(), "checking " + std::to_string(v));
  return Status::ok();
}

TEST(Status, MacrosAddContextOnTheWayUp) {
  int q = 0;
  EXPECT_TRUE(quarter_into(8, q).is_ok());
  EXPECT_EQ(q, 2);
  Status s = quarter_into(3, q);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "halving 3: 3 is odd");
  EXPECT_EQ(quarter_into(6, q).message(), "3 is odd");  // no context given: unchanged
  EXPECT_EQ(check_even(5).to_string(), "invalid argument: checking 5: 5 is odd");
}

TEST(StatusDeathTest, ValueOfAnErrorIsACheckFailureNamingTheStatus) {
  Result<int> r = half(7);
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) on an error: invalid argument: 7 is odd");
  EXPECT_DEATH((void)*r, "7 is odd");
  Result<std::string> s = not_found("no such key");
  EXPECT_DEATH((void)s->size(), "not found: no such key");
}

}  // namespace
}  // namespace rsdat
