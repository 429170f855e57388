package token

import (
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Fixed-base tables for the points a verifier multiplies again and again:
// the base point B and the public keys it verifies with.
//
// The check [S]B - [k]A = R costs crypto/ed25519 one double-scalar
// multiplication: about 253 point doublings and 80 additions. With a
// table of every multiple j * 2^(8i) * P (1 <= j <= 128, 0 <= i < 32) of
// a point P, [s]P is 32 additions and no doubling, so both products
// together are 64 additions: Verify takes about half the time. A table is
// 480 KiB, so one is built only for a key that verifies often (see
// ed25519.go). filippo.io/edwards25519 multiplies by a fixed base only in
// constant time and only for B; it keeps its table formats unexported,
// hence this file, built on its exported field arithmetic.
//
// Everything here handles public values (keys, signatures, messages), so
// it may take time and memory accesses that depend on them, as
// crypto/ed25519's own verification does. The result goes back through
// edwards25519.Point.SetExtendedCoordinates, which refuses a point off
// the curve, so an arithmetic slip fails closed; tests hold it to
// VarTimeDoubleScalarBaseMult on random and edge-case scalars.

const (
	windows   = 32  // digits of a scalar, one a byte
	perWindow = 128 // multiples stored per digit: 1..128
	tableSize = windows * perWindow
)

// niels is an affine point stored as y+x, y-x and 2d*x*y, the form a
// mixed addition reads.
type niels struct {
	yPlusX, yMinusX, xy2d field.Element
}

// fixedTable holds j * 2^(8i) * P at index i*perWindow + j-1.
type fixedTable [tableSize]niels

// curveD2 is 2d, where d = -121665/121666 is the curve's constant.
var curveD2 = func() *field.Element {
	var num, den, d field.Element
	num.Mult32(new(field.Element).One(), 121665)
	num.Negate(&num)
	den.Mult32(new(field.Element).One(), 121666)
	d.Multiply(&num, den.Invert(&den))
	return d.Add(&d, &d)
}()

// newFixedTable builds the table of p: each window's multiples by
// repeated addition in extended coordinates, then all of them made affine
// with one field inversion (Montgomery's trick).
func newFixedTable(p *edwards25519.Point) *fixedTable {
	points := make([]edwards25519.Point, tableSize)
	base := new(edwards25519.Point).Set(p)
	for i := range windows {
		row := points[i*perWindow : (i+1)*perWindow]
		row[0].Set(base)
		for j := 1; j < perWindow; j++ {
			row[j].Add(&row[j-1], base)
		}
		// The next window's base is 2^8 times this one's: 2 * 128 * base.
		base.Add(&row[perWindow-1], &row[perWindow-1])
	}

	// prefix[n] = Z_0 * ... * Z_(n-1); one inversion of the whole product
	// then yields each 1/Z_n walking back.
	zs := make([]field.Element, tableSize)
	prefix := make([]field.Element, tableSize+1)
	prefix[0].One()
	for n := range points {
		_, _, z, _ := points[n].ExtendedCoordinates()
		zs[n].Set(z)
		prefix[n+1].Multiply(&prefix[n], z)
	}
	var inv field.Element
	inv.Invert(&prefix[tableSize])

	t := new(fixedTable)
	var zInv, x, y field.Element
	for n := tableSize - 1; n >= 0; n-- {
		zInv.Multiply(&inv, &prefix[n])
		inv.Multiply(&inv, &zs[n])
		X, Y, _, _ := points[n].ExtendedCoordinates()
		x.Multiply(X, &zInv)
		y.Multiply(Y, &zInv)
		e := &t[n]
		e.yPlusX.Add(&y, &x)
		e.yMinusX.Subtract(&y, &x)
		e.xy2d.Multiply(&x, &y)
		e.xy2d.Multiply(&e.xy2d, curveD2)
	}
	return t
}

// extended is a point (X:Y:Z:T) with x = X/Z, y = Y/Z and xy = T/Z.
type extended struct {
	X, Y, Z, T field.Element
}

func (v *extended) identity() {
	v.X.Zero()
	v.Y.One()
	v.Z.One()
	v.T.Zero()
}

// addNiels sets v = v + q, or v - q if neg: the mixed addition of
// Hisil, Wong, Carter and Dawson (2008) for a = -1, with 7 field
// multiplications. Negating q swaps y+x with y-x and negates 2dxy.
func (v *extended) addNiels(q *niels, neg bool) {
	qPlus, qMinus := &q.yPlusX, &q.yMinusX
	if neg {
		qPlus, qMinus = qMinus, qPlus
	}
	var a, b, c, zz, e, f, g, h field.Element
	a.Subtract(&v.Y, &v.X)
	a.Multiply(&a, qMinus)
	b.Add(&v.Y, &v.X)
	b.Multiply(&b, qPlus)
	c.Multiply(&v.T, &q.xy2d)
	zz.Add(&v.Z, &v.Z)
	e.Subtract(&b, &a)
	h.Add(&b, &a)
	if neg {
		f.Add(&zz, &c)
		g.Subtract(&zz, &c)
	} else {
		f.Subtract(&zz, &c)
		g.Add(&zz, &c)
	}
	v.X.Multiply(&e, &f)
	v.Y.Multiply(&g, &h)
	v.T.Multiply(&e, &h)
	v.Z.Multiply(&f, &g)
}

// digits writes s, a scalar below 2^255 in little-endian bytes, as 32
// signed digits d_i with s = sum of d_i * 2^(8i) and -128 <= d_i <= 128.
// A byte above 128 becomes byte - 256 and carries one into the next; the
// top byte is below 128, so it takes the carry without passing 128.
func digits(s []byte, out *[windows]int16) {
	carry := 0
	for i := range windows {
		d := int(s[i]) + carry
		carry = 0
		if d > 128 {
			d -= 256
			carry = 1
		}
		out[i] = int16(d)
	}
}

// addMultiple adds [s]P to v, for the table of P and the digits of s;
// negate subtracts it instead.
func (v *extended) addMultiple(t *fixedTable, ds *[windows]int16, negate bool) {
	for i, d := range ds {
		switch {
		case d > 0:
			v.addNiels(&t[i*perWindow+int(d)-1], negate)
		case d < 0:
			v.addNiels(&t[i*perWindow+int(-d)-1], !negate)
		}
	}
}

// baseTable is the table of the base point B, built on first use.
var baseTable = sync.OnceValue(func() *fixedTable {
	return newFixedTable(edwards25519.NewGeneratorPoint())
})

// fixedCheck sets p = [S]B - [k]A, with tA the table of A, and returns
// p, or nil if the result were off the curve, which the arithmetic rules
// out.
func fixedCheck(p *edwards25519.Point, k, S *edwards25519.Scalar, tA *fixedTable) *edwards25519.Point {
	var dk, dS [windows]int16
	digits(k.Bytes(), &dk)
	digits(S.Bytes(), &dS)
	var r extended
	r.identity()
	r.addMultiple(baseTable(), &dS, false)
	r.addMultiple(tA, &dk, true)
	if _, err := p.SetExtendedCoordinates(&r.X, &r.Y, &r.Z, &r.T); err != nil {
		return nil
	}
	return p
}
