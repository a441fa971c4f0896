#!/bin/sh
# Renders man/aiproxyd.8.in with the output of the built binary's --help and --version, so the
# man page cannot drift from the command line it documents.
#   render_man_page.sh AIPROXYD TEMPLATE OUTPUT
#
# --help layout understood: "Usage: <synopsis>", description paragraphs, then headings
# ("Options:" alone on a line, or "Signals: text..." starting a paragraph); under Options, each
# "  -x, --long ARG  text" line starts an option and deeper-indented lines continue its text.
set -eu
binary=$1 template=$2 output=$3

help=$("$binary" --help)
version=$("$binary" --version)

printf '%s\n' "$help" | awk -v version="$version" -v template="$template" '
function escape(text) {
    gsub(/\\/, "\\e", text)
    gsub(/-/, "\\-", text)
    if (text ~ /^[.\047]/) text = "\\&" text
    return text
}
function emit(line) { body = body line "\n" }
# A blank line ends a paragraph; the next text line opens a new one with .PP, unless a heading
# came first.
function text(line) {
    if (paragraph) emit(".PP")
    paragraph = 0
    in_paragraph = 1
    emit(escape(line))
}
function heading(title) {
    emit(".SH " title)
    paragraph = 0
    in_paragraph = 0
}
BEGIN { section = ""; paragraph = 0; in_paragraph = 0 }
NR == 1 && /^Usage: / {
    sub(/^Usage: /, "")
    name = $1
    sub(/^[^ ]+ */, "")
    emit(".SH SYNOPSIS")
    emit(".B " name)
    emit(escape($0))
    heading("DESCRIPTION")
    section = "description"
    next
}
/^$/ { paragraph = in_paragraph && section != "options"; next }
/^[A-Z][A-Za-z ]*:$/ {
    title = toupper(substr($0, 1, length($0) - 1))
    heading(title)
    section = (title == "OPTIONS") ? "options" : "text"
    next
}
/^[A-Z][A-Za-z]*: / {
    heading(toupper(substr($0, 1, index($0, ":") - 1)))
    section = "text"
    sub(/^[^:]*: /, "")
    text($0)
    next
}
section == "options" && /^ +-/ {
    line = $0
    sub(/^ +/, "", line)
    split_at = match(line, /  +/)
    term = split_at ? substr(line, 1, split_at - 1) : line
    description = split_at ? substr(line, split_at + RLENGTH) : ""
    emit(".TP")
    emit(".B " escape(term))
    if (description != "") emit(escape(description))
    next
}
{
    line = $0
    sub(/^ +/, "", line)
    text(line)
}
END {
    while ((getline line < template) > 0) {
        if (line == "@HELP@") { printf "%s", body; continue }
        gsub(/@VERSION@/, version, line)
        print line
    }
    close(template)
}' > "$output.tmp"
mv "$output.tmp" "$output"
