"""Sizes and fonts of the path diagram, shared by its SVG (``diagram``) and matplotlib
(``diagram_mpl``) renderings so the two draw the same picture."""

FONT_FAMILY = ("'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',"
               "'WenQuanYi Zen Hei','DejaVu Sans',sans-serif")
FS_LABEL, FS_STAT, FS_EDGE, FS_ITEM, FS_TITLE = 14, 12, 12, 11, 16   # font sizes (px)
ROW, ITEM_H, ITEM_GAP = 72, 22, 6   # vertical spacing of constructs and item boxes
MARGIN, TOP = 30, 50
