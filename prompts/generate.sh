#!/usr/bin/env bash
# Regenerates the shipped voicemail prompts (8 kHz mono 16-bit PCM WAV) from prompts.txt
# with espeak-ng (text to speech) and sox (resampling, the beep). Run once after editing
# prompts.txt; the WAVs are committed and embedded in the binary (see SOURCE.md).
#
#   prompts/generate.sh            # all prompts
#   VOICE=en-gb prompts/generate.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null || { echo "needs espeak-ng (apt-get install espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "needs sox (apt-get install sox)" >&2; exit 1; }
voice="${VOICE:-en-us}"
speed="${SPEED:-175}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
while IFS=$'\t' read -r name text; do
  case "$name" in ''|'#'*) continue ;; esac
  if [ "$text" = "@beep" ]; then
    # 1 kHz, 300 ms, -6 dBFS
    sox -n -r 8000 -c 1 -b 16 "$name.wav" synth 0.3 sine 1000 vol 0.5
    continue
  fi
  espeak-ng -v "$voice" -s "$speed" -w "$tmp/$name.wav" "$text"
  # 8 kHz mono 16-bit, 50 ms of silence on both ends, normalised to -3 dBFS
  sox "$tmp/$name.wav" -r 8000 -c 1 -b 16 "$name.wav" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -3 pad 0.05 0.05
done < prompts.txt
ls -l ./*.wav | awk '{s+=$5} END {print NR " prompts, " s " bytes"}'
