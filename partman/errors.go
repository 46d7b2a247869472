package partman

import "errors"

// ErrLockTimeout is returned (wrapped, with the partition and the number of
// attempts) when a partition could not be created or removed because a lock
// it needs was not granted within Options.LockTimeout on any of the attempts.
// Something else held the table for longer, typically a long-running reader;
// nothing was changed for that partition, and a later run will try again.
var ErrLockTimeout = errors.New("could not get the lock")

// ErrNoTable is returned when the parent table named in the options does not
// exist.
var ErrNoTable = errors.New("no such table")

// ErrNotPartitioned is returned when the parent table is not partitioned by
// range on a single timestamptz column, which is what daily partitions need.
var ErrNotPartitioned = errors.New("not partitioned by range on one timestamptz column")

// ErrInvalidMode is returned by Prune and ParseMode for a mode other than
// Drop or Detach.
var ErrInvalidMode = errors.New("invalid prune mode")

// ErrInvalidArgument is returned for a retention or interval that is zero or
// negative.
var ErrInvalidArgument = errors.New("invalid argument")

// ErrInsufficientPrivilege is returned (wrapped, naming the table) when the
// current role may not make or remove partitions: it does not have the
// privileges of the table's owner, or may not create tables in its schema
// (SQLSTATE 42501). Readers and writers (see CreateRoles) get it; the owner
// role does the upkeep.
var ErrInsufficientPrivilege = errors.New("insufficient privilege: the role may not keep the partitions")
