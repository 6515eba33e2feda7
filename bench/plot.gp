# plot.gp: bench/results.png, one bar per table line: the ratio buse ÷ reference (log scale),
# green when the goal is met, red when not, grey without a goal; the goal as a black circle.
# Called by report.sh:  gnuplot -e "term='pngcairo'; data='…/chart.dat'; out='…/results.png'"
if (term eq 'pngcairo') set terminal pngcairo size 1500,800 font ',9'; else set terminal png size 1500,800
set output out
set title 'buse ÷ reference (medians of the same run); goal: circle; dashed: 1.0'
set logscale y
set ylabel 'ratio (log scale)'
set yrange [*:*]
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by 35 right
set bmargin 19
set lmargin 30
set key off
set datafile separator '\t'
set linetype 1 lc rgb '#2e8b57'
set linetype 2 lc rgb '#c0392b'
set linetype 3 lc rgb '#999999'
plot data using 0:2:4:xtic(1) with boxes lc variable, \
     data using 0:3 with points pt 6 ps 2 lw 2 lc rgb 'black', \
     1 with lines lc rgb '#555555' dt 2
