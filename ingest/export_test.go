package ingest

// FileFeedsFS is fileFeeds, for tests that give a tree with faults.
var FileFeedsFS = fileFeeds
