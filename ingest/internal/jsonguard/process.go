package jsonguard

import "bytes"

// maxMarks is how many offset marks a Guard keeps before it forgets those
// far behind what it passed on.
const maxMarks = 1 << 14

// process reads what is left of the current chunk of the feed.
func (g *Guard) process() {
	for g.ip < g.n {
		if g.skip != skipNone {
			g.skipping()
			continue
		}
		if g.armed && g.out >= g.armLimit && len(g.levels) > g.armBase && g.cutSafe() {
			g.cut()
			continue
		}
		c := g.data[g.ip]
		switch g.lex {
		case lexString:
			g.inString(c)
			continue
		case lexNumber:
			if isNumber(c) {
				if g.opts.MaxToken > 0 && g.tok >= g.opts.MaxToken {
					g.cutToken()
					continue
				}
				g.pass(c)
				g.tok++
				continue
			}
			g.lex = lexNone
			g.after()
		case lexLiteral:
			if c >= 'a' && c <= 'z' && g.tok < 8 {
				g.pass(c)
				g.tok++
				continue
			}
			g.lex = lexNone
			g.after()
		}
		g.structural(c)
	}
}

func isNumber(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// structural reads one byte outside any token.
func (g *Guard) structural(c byte) {
	switch c {
	case ' ', '\t', '\r':
		if g.space < g.opts.MaxSpace {
			// Pass the run (up to the squeeze) at once.
			j, end := g.ip+1, min(g.n, g.ip+g.opts.MaxSpace-g.space)
			for j < end && (g.data[j] == ' ' || g.data[j] == '\t' || g.data[j] == '\r') {
				j++
			}
			g.emitRun(g.data[g.ip:j])
			g.space += j - g.ip
			g.feed += int64(j - g.ip)
			g.ip = j
		} else {
			g.drop(c)
		}
		return
	case '\n':
		if g.space < g.opts.MaxSpace || !g.spaceNL {
			g.space++
			g.spaceNL = true
			g.pass(c)
		} else {
			g.drop(c)
		}
		if g.lines {
			g.newline()
		}
		return
	}
	g.space, g.spaceNL = 0, false
	if g.lines {
		if g.line == lineEmpty && (c == '{' || c == '[') && len(g.levels) == 0 {
			g.line = lineOpener
		} else {
			g.line = lineOther
		}
	}
	switch c {
	case '{', '[':
		if g.opts.MaxDepth > 0 && len(g.levels) >= g.opts.MaxDepth {
			g.events = append(g.events, Event{Kind: TooDeep, Out: g.out, Feed: g.feed})
			g.emit('0') // in place of the '{' or '['
			g.ip++
			g.feed++
			g.after()
			g.skip, g.skipDepth, g.skipStr, g.skipEsc = skipValue, 1, false, false
			return
		}
		ph := objStart
		if c == '[' {
			ph = arrStart
		}
		g.levels = append(g.levels, level{phase: ph, start: g.out})
		g.pass(c)
	case '}', ']':
		g.pass(c)
		if len(g.levels) > 0 {
			g.levels = g.levels[:len(g.levels)-1]
			if g.armed && len(g.levels) <= g.armBase {
				g.armed = false
			}
		}
		g.after()
	case ':':
		if t := g.top(); t != nil && t.phase < arrStart {
			t.phase = objValue
		}
		g.pass(c)
	case ',':
		if t := g.top(); t != nil {
			if t.phase < arrStart {
				t.phase = objName
			} else {
				t.phase = arrValue
			}
		}
		g.pass(c)
	case '"':
		t := g.top()
		g.lex, g.esc, g.hex, g.tok = lexString, false, 0, 0
		g.name = t != nil && (t.phase == objStart || t.phase == objName)
		g.tokOut, g.tokFeed = g.out, g.feed
		g.pass(c)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		g.lex, g.tok, g.tokOut, g.tokFeed = lexNumber, 1, g.out, g.feed
		g.pass(c)
	case 't', 'f', 'n':
		g.lex, g.lit, g.tok = lexLiteral, c, 1
		g.pass(c)
	default:
		g.pass(c) // not JSON: the decoder says so
	}
}

// newline ends a line in line mode.
func (g *Guard) newline() {
	if g.line == lineOpener {
		g.lines = false // a multi-line value starts
	} else if len(g.levels) > 0 {
		g.levels, g.armed = g.levels[:0], false
	}
	g.line = lineEmpty
}

func (g *Guard) top() *level {
	if len(g.levels) == 0 {
		return nil
	}
	return &g.levels[len(g.levels)-1]
}

// after notes that a value ended.
func (g *Guard) after() {
	t := g.top()
	if t == nil {
		return
	}
	if t.phase < arrStart {
		t.phase = objAfter
	} else {
		t.phase = arrAfter
	}
}

// inString reads string bytes from c on.
func (g *Guard) inString(c byte) {
	switch {
	case g.esc:
		g.esc = false
		if c == 'u' {
			g.hex = 4
		}
		g.pass(c)
		g.tok++
		return
	case g.hex > 0:
		g.hex--
		g.pass(c)
		g.tok++
		return
	case g.opts.MaxToken > 0 && g.tok >= g.opts.MaxToken:
		g.cutToken()
		return
	}
	switch c {
	case '"':
		g.pass(c)
		g.lex = lexNone
		if g.name {
			g.top().phase = objColon
		} else {
			g.after()
		}
		return
	case '\\':
		g.esc = true
		g.pass(c)
		g.tok++
		return
	case '\n':
		if g.lines { // a string cannot hold a raw newline: the line ends
			g.lex = lexNone
			g.structural(c)
			return
		}
	}
	end := g.n
	if g.opts.MaxToken > 0 {
		end = min(end, g.ip+int(min(g.opts.MaxToken-g.tok, int64(g.n))))
	}
	if g.armed {
		end = min(end, g.ip+int(max(min(g.armLimit-g.out, int64(g.n)), 1)))
	}
	j := g.ip + 1 + stringEnd(g.data[g.ip+1:max(end, g.ip+1)], g.lines)
	g.emitRun(g.data[g.ip:j])
	g.tok += int64(j - g.ip)
	g.feed += int64(j - g.ip)
	g.ip = j
}

// stringEnd is the index of the first '"' or '\\' in b (or raw newline in
// line mode), len(b) if none.
func stringEnd(b []byte, lines bool) int {
	i := bytes.IndexByte(b, '"')
	if i < 0 {
		i = len(b)
	}
	if k := bytes.IndexByte(b[:i], '\\'); k >= 0 {
		i = k
	}
	if lines {
		if k := bytes.IndexByte(b[:i], '\n'); k >= 0 {
			i = k
		}
	}
	return i
}

func (g *Guard) cutSafe() bool { return g.lex != lexString || (!g.esc && g.hex == 0) }

var literals = map[byte]string{'t': "true", 'f': "false", 'n': "null"}

// closeToken ends the token being read, with what makes it valid.
func (g *Guard) closeToken() {
	switch g.lex {
	case lexString:
		g.syn(`"`)
		if g.name {
			g.top().phase = objColon
		} else {
			g.after()
		}
	case lexNumber:
		if g.last < '0' || g.last > '9' {
			g.syn("0")
		}
		g.after()
	case lexLiteral:
		if w := literals[g.lit]; g.tok < int64(len(w)) {
			g.syn(w[g.tok:])
		}
		g.after()
	}
	g.lex = lexNone
}

// closers close a container, by the phase it is in.
var closers = [...]string{
	objStart: "}", objName: `"":0}`, objColon: ":0}", objValue: "0}", objAfter: "}",
	arrStart: "]", arrValue: "0]", arrAfter: "]",
}

// cut cuts the armed container short.
func (g *Guard) cut() {
	inString := g.lex == lexString
	g.closeToken()
	open := len(g.levels) - g.armBase
	for i := len(g.levels) - 1; i >= g.armBase; i-- {
		ph := g.levels[i].phase
		if i < len(g.levels)-1 { // its value is the container just closed
			ph = objAfter
			if g.levels[i].phase >= arrStart {
				ph = arrAfter
			}
		}
		g.syn(closers[ph])
	}
	g.levels = g.levels[:g.armBase]
	g.after()
	g.events = append(g.events, Event{Kind: TooLarge, Out: g.armStart, Feed: g.armFeed, Size: g.feed - g.armFeed})
	g.armed = false
	g.skip, g.skipDepth, g.skipStr, g.skipEsc = skipValue, open, inString, false
}

// cutToken cuts the string or number being read short.
func (g *Guard) cutToken() {
	g.events = append(g.events, Event{Kind: TooLarge, Out: g.tokOut, Feed: g.tokFeed, Size: g.tok})
	if g.lex == lexString {
		g.skip, g.skipEsc = skipString, false
	} else {
		g.skip = skipNumber
	}
	g.closeToken()
}

// skipping drops feed bytes until the skipped value ends.
func (g *Guard) skipping() {
	c := g.data[g.ip]
	if c == '\n' && g.lines {
		g.skip = skipNone // the line ends what is open
		g.lex = lexNone
		return
	}
	switch g.skip {
	case skipNumber:
		if !isNumber(c) {
			g.skip = skipNone
			return
		}
		g.drop(c)
	case skipString:
		g.skipInString()
		if !g.skipStr {
			g.skip = skipNone
		}
	case skipValue:
		if g.skipStr {
			g.skipInString()
			return
		}
		switch c {
		case '"':
			g.skipStr, g.skipEsc = true, false
		case '{', '[':
			g.skipDepth++
		case '}', ']':
			g.skipDepth--
		}
		g.drop(c)
		if g.skipDepth <= 0 {
			g.skip = skipNone
		}
	}
}

// skipInString drops string bytes up to the closing quote.
func (g *Guard) skipInString() {
	g.skipStr = true
	if g.skipEsc {
		g.skipEsc = false
		g.drop(g.data[g.ip])
		return
	}
	j := g.ip
	for j < g.n {
		b := g.data[j]
		if b == '"' || b == '\\' || (b == '\n' && g.lines) {
			break
		}
		j++
	}
	g.dropRun(g.data[g.ip:j])
	if j == g.n {
		return
	}
	switch g.data[j] {
	case '"':
		g.skipStr = false
		g.drop('"')
	case '\\':
		g.skipEsc = true
		g.drop('\\')
	}
}

// pass passes on the feed byte c.
func (g *Guard) pass(c byte) {
	g.emit(c)
	g.ip++
	g.feed++
}

// drop drops the feed byte c.
func (g *Guard) drop(c byte) {
	g.ip++
	g.feed++
	g.delta++
	g.dirty = true
	if c == '\n' {
		g.nl++
	}
}

func (g *Guard) dropRun(b []byte) {
	g.dirty = true
	g.ip += len(b)
	g.feed += int64(len(b))
	g.delta += int64(len(b))
	g.nl += int64(bytes.Count(b, []byte{'\n'}))
}

// syn passes on bytes that are not in the feed.
func (g *Guard) syn(s string) {
	for i := 0; i < len(s); i++ {
		g.emit(s[i])
		g.delta--
		g.dirty = true
	}
}

func (g *Guard) note() {
	g.dirty = false
	if m := g.marks[len(g.marks)-1]; m.delta != g.delta || m.nl != g.nl {
		if m.out == g.out {
			g.marks[len(g.marks)-1] = mark{g.out, g.delta, g.nl}
		} else {
			g.marks = append(g.marks, mark{g.out, g.delta, g.nl})
		}
		if len(g.marks) > maxMarks {
			g.marks = append(g.marks[:0], g.marks[len(g.marks)/2:]...)
		}
	}
}

func (g *Guard) emit(c byte) {
	if g.dirty {
		g.note()
	}
	g.buf = append(g.buf, c)
	g.out++
	g.last = c
}

func (g *Guard) emitRun(b []byte) {
	if g.dirty {
		g.note()
	}
	g.buf = append(g.buf, b...)
	g.out += int64(len(b))
	g.last = b[len(b)-1]
}
