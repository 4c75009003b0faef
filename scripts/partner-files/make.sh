#!/bin/sh
# Regenerates tests/fixtures/partner/ from source.csv with a real spreadsheet program
# (LibreOffice Calc, Debian's libreoffice-calc-nogui): the exports partners send.
#   windows-1252.csv   "Text CSV", Western Europe (Windows-1252)
#   utf16.txt          "Unicode Text": UTF-16LE with a byte-order mark, tab-separated
#   windows-1252.csv.gz  the first, through gzip
#   source.xlsx        "Excel 2007-365", dates and numbers recognised on import
set -eu
cd "$(dirname "$0")/../../tests/fixtures/partner"
out=$(mktemp -d)
# Import: comma, double quote, UTF-8 (76), from line 1; for the workbook, the 8th token asks
# Calc to recognise dates and numbers, as opening the file in a spreadsheet does.
soffice --headless --infilter="CSV:44,34,76,1" \
  --convert-to 'csv:Text - txt - csv (StarCalc):44,34,1,1' --outdir "$out" source.csv
mv "$out/source.csv" windows-1252.csv
soffice --headless --infilter="CSV:44,34,76,1" \
  --convert-to 'txt:Text - txt - csv (StarCalc):9,34,65535,1' --outdir "$out" source.csv
mv "$out/source.txt" utf16.txt
soffice --headless --infilter="CSV:44,34,76,1,,1033,false,true" \
  --convert-to xlsx:"Calc MS Excel 2007 XML" --outdir "$out" source.csv
mv "$out/source.xlsx" source.xlsx
gzip -9 -n -c windows-1252.csv > windows-1252.csv.gz
rm -r "$out"
