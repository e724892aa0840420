#include "common/unique_fd.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <utility>

using hopgate::UniqueFd;

namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("UniqueFd closes what it owns, once, and hands it over on move") {
  int p[2];
  REQUIRE(pipe(p) == 0);
  UniqueFd write_end(p[1]);
  {
    UniqueFd a(p[0]);
    CHECK(a);
    UniqueFd b(std::move(a));
    CHECK_FALSE(a);
    CHECK(b.get() == p[0]);
    CHECK(IsOpen(p[0]));
  }
  CHECK_FALSE(IsOpen(p[0]));

  int raw = write_end.release();
  CHECK_FALSE(write_end);
  CHECK(IsOpen(raw));
  write_end.reset(raw);
  write_end.reset();
  CHECK_FALSE(IsOpen(raw));
}
