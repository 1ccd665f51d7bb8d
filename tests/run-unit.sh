#!/bin/sh
# LOG_COMPILER for the Check unit tests: runs one test program, under
# valgrind when VALGRIND=yes (Check's fork mode off, so valgrind sees it all).
if [ "${VALGRIND:-no}" = yes ]; then
  CK_FORK=no exec valgrind --quiet --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --track-origins=yes "$@"
fi
exec "$@"
