//go:build race

package misp

// raceBuild is set in a build with the race detector, which makes a load
// about ten times slower.
const raceBuild = true
