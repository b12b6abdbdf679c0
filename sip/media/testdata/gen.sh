#!/bin/sh
# gen.sh regenerates the G.711 reference vectors with SoX as the oracle.
# Run once from this directory; the outputs are committed so tests never need sox.
#   *_encode.bin: 65,536 code bytes, one per int16 input from -32768 to 32767
#   *_decode.bin: 256 little-endian int16 values, one per code byte 0x00..0xFF
# -D disables dither, which makes SoX's G.711 conversion exact.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
perl -e 'print pack("s<*", -32768 .. 32767)' >"$tmp/pcm.raw"
perl -e 'print pack("C*", 0 .. 255)' >"$tmp/codes.raw"
for law in u a; do
	sox -D -t raw -e signed-integer -b 16 -c 1 -r 8000 -L "$tmp/pcm.raw" \
		-t raw -e ${law}-law -b 8 -c 1 -r 8000 "${law}law_encode.bin"
	sox -D -t raw -e ${law}-law -b 8 -c 1 -r 8000 "$tmp/codes.raw" \
		-t raw -e signed-integer -b 16 -c 1 -r 8000 -L "${law}law_decode.bin"
done
