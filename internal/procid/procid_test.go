package procid

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	line := "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 150 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615\n"
	n, err := parseStat(line)
	require.NoError(t, err)
	require.Equal(t, int64(987654), n, "field 22, counted after the last ')' of the command name")

	_, err = parseStat("4242 (short) S 1 2")
	require.Error(t, err)
	_, err = parseStat("no parenthesis")
	require.Error(t, err)
}

func TestCheck(t *testing.T) {
	t.Parallel()
	self := Self()
	require.Equal(t, os.Getpid(), self.PID)
	require.NotEmpty(t, self.Host)
	require.NotZero(t, self.Start, "Linux gives the start time")
	require.Equal(t, Alive, Check(self, self.Host))

	reused := self
	reused.Start++
	require.Equal(t, Gone, Check(reused, self.Host), "same id, another start time: a later process")
	require.Equal(t, Unknown, Check(self, self.Host+"-elsewhere"), "another host cannot be checked")

	// A process that has ended.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	require.Equal(t, Gone, Check(ID{Host: self.Host, PID: cmd.Process.Pid}, self.Host))
}
