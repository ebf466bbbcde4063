"""Writers of tiny datasets in the real distribution formats (generated images and lines, nothing downloaded).

Each writer takes a folder (a pytest ``tmp_path`` sub-folder) and the rows to write, and returns what a test
needs to check the loader against the values written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

#: The 40 attribute names of CelebA's list_attr_celeba.txt, in file order.
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()

#: The 73 attribute columns of Kumar et al.'s lfw_attributes.txt, in file order.
LFW_ATTRIBUTES = (
    "Male", "Asian", "White", "Black", "Baby", "Child", "Youth", "Middle Aged", "Senior", "Black Hair", "Blond Hair",
    "Brown Hair", "Bald", "No Eyewear", "Eyeglasses", "Sunglasses", "Mustache", "Smiling", "Frowning", "Chubby",
    "Blurry", "Harsh Lighting", "Flash", "Soft Lighting", "Outdoor", "Curly Hair", "Wavy Hair", "Straight Hair",
    "Receding Hairline", "Bangs", "Sideburns", "Fully Visible Forehead", "Partially Visible Forehead",
    "Obstructed Forehead", "Bushy Eyebrows", "Arched Eyebrows", "Narrow Eyes", "Eyes Open", "Big Nose",
    "Pointy Nose", "Big Lips", "Mouth Closed", "Mouth Slightly Open", "Mouth Wide Open", "Teeth Not Visible",
    "No Beard", "Goatee", "Round Jaw", "Double Chin", "Wearing Hat", "Oval Face", "Square Face", "Round Face",
    "Color Photo", "Posed Photo", "Attractive Man", "Attractive Woman", "Indian", "Gray Hair", "Bags Under Eyes",
    "Heavy Makeup", "Rosy Cheeks", "Shiny Skin", "Pale Skin", "5 o' Clock Shadow", "Strong Nose-Mouth Lines",
    "Wearing Lipstick", "Flushed Face", "High Cheekbones", "Brown Eyes", "Wearing Earrings", "Wearing Necktie",
    "Wearing Necklace")


def write_image(path: Path, *, seed: int = 0, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> Path:
    """A small random image (format from the suffix: JPEG for .jpg, PNG for .png)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=None).save(
        path, format="PNG" if path.suffix == ".png" else "JPEG")
    return path


def write_utkface(root: Path, labels: list[tuple[int, int, int]], *, malformed: tuple[str, ...] = ()) -> list[str]:
    """``root/UTKFace/<age>_<gender>_<race>_<datetime>.jpg.chip.jpg`` for each (age, gender, race); returns names.

    ``malformed`` names are written as images too (the release has files whose name lacks a field).
    """
    names = []
    for i, (age, gender, race) in enumerate(labels):
        name = f"{age}_{gender}_{race}_2017011{i:010d}.jpg.chip.jpg"
        write_image(root / "UTKFace" / name, seed=i)
        names.append(name)
    for j, name in enumerate(malformed):
        write_image(root / "UTKFace" / name, seed=100 + j)
    return names


def write_celeba(root: Path, rows: list[tuple[str, dict[str, int], int]], *, absent: tuple[str, ...] = (),
                 attr_lines: list[str] | None = None) -> Path:
    """CelebA's three parts: images, ``list_attr_celeba.txt`` and ``list_eval_partition.txt``.

    Parameters
    ----------
    rows : list of (file name, {attribute: 1}, partition code 0/1/2)
        Attributes not named are -1.
    absent : file names listed in the text files but not written as images.
    attr_lines : raw lines appended to the attribute file after ``rows`` (to plant a bad line).
    """
    lines = [str(len(rows) + len(attr_lines or ())), " ".join(CELEBA_ATTRIBUTES) + " "]
    for i, (name, positive, _) in enumerate(rows):
        values = [f"{positive.get(a, -1):2d}" for a in CELEBA_ATTRIBUTES]
        # The real file pads with two spaces before a 1 and one before a -1.
        lines.append(name + " " + " ".join(values))
        if name not in absent:
            write_image(root / "img_align_celeba" / name, seed=i)
    lines += attr_lines or []
    root.mkdir(parents=True, exist_ok=True)
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, _, p in rows))
    return root


def write_lfwa(root: Path, rows: list[tuple[str, int, dict[str, float]]], *, absent: tuple[tuple[str, int], ...] = ()
               ) -> Path:
    """``lfw/<Person_Name>/<Person_Name>_<nnnn>.jpg`` and ``lfw_attributes.txt`` (Kumar et al. format).

    Parameters
    ----------
    rows : list of (person name with spaces, image number, {attribute: score})
        Attributes not named get the score -1.0.
    absent : (person, number) pairs listed in the table but not written as images.
    """
    lines = ["# LFW attributes file, version 1.1", "#\tperson\timagenum\t" + "\t".join(LFW_ATTRIBUTES)]
    for i, (person, number, scores) in enumerate(rows):
        values = [f"{scores.get(a, -1.0):.6f}" for a in LFW_ATTRIBUTES]
        lines.append("\t".join([person, str(number), *values]))
        if (person, number) not in absent:
            folder = person.replace(" ", "_")
            write_image(root / "lfw" / folder / f"{folder}_{number:04d}.jpg", seed=i)
    root.mkdir(parents=True, exist_ok=True)
    (root / "lfw_attributes.txt").write_text("\n".join(lines) + "\n")
    return root


def write_waterbirds(root: Path, rows: list[tuple[int, int, int]], *, absent: tuple[int, ...] = (),
                     drop_column: str | None = None) -> list[str]:
    """``metadata.csv`` (img_id, img_filename, y, split, place, place_filename) and the images; returns filenames.

    ``rows`` are (y, place, split) triples; ``absent`` row numbers get no image file.
    """
    birds = ("001.Black_footed_Albatross/Black_Footed_Albatross_{:04d}_1.jpg",
             "045.Northern_Fulmar/Northern_Fulmar_{:04d}_2.jpg")
    records = []
    for i, (y, place, split) in enumerate(rows):
        filename = birds[y].format(i)
        records.append({"img_id": i + 1, "img_filename": filename, "y": y, "split": split, "place": place,
                        "place_filename": ("/b/bamboo_forest/00000001.jpg", "/o/ocean/00000002.jpg")[place]})
        if i not in absent:
            write_image(root / filename, seed=i)
    table = pd.DataFrame.from_records(records)
    if drop_column:
        table = table.drop(columns=[drop_column])
    root.mkdir(parents=True, exist_ok=True)
    table.to_csv(root / "metadata.csv", index=False)
    return [r["img_filename"] for r in records]


#: A hand-made annotation table: (comment_id, text, hate_speech_score, marked subgroups of religion, of race).
#: Expected after merging by text with the default agreement 0.5, min_group_size 1:
#:   "a": rows 0.9 and 0.3 -> mean 0.6 -> hate; muslim on 2/2 rows          -> muslim, y=1
#:   "b": one row 0.2, jewish                                                 -> jewish, y=0
#:   "c": one row 0.5 exactly, muslim                                         -> muslim, y=0 (not > 0.5)
#:   "d": rows muslim / jewish (each 1/2 >= 0.5, so both targeted)            -> dropped, several subgroups
#:   "e": one row, race only                                                  -> dropped, no religion subgroup
#:   "f": rows 1.2, 1.0, christian on 1/3 rows + muslim on 3/3 (christian 1/3 < 0.5) -> muslim, y=1
#:   "g": one row 2.0, christian                                              -> christian, y=1
HATE_ROWS = [
    (1, "a", 0.9, ("muslim",), ()), (1, "a", 0.3, ("muslim",), ()),
    (2, "b", 0.2, ("jewish",), ()),
    (3, "c", 0.5, ("muslim",), ()),
    (4, "d", 1.0, ("muslim",), ()), (4, "d", 1.0, ("jewish",), ()),
    (5, "e", 2.0, (), ("black",)),
    (6, "f", 1.2, ("muslim", "christian"), ()), (6, "f", 1.0, ("muslim",), ()), (6, "f", 1.1, ("muslim",), ()),
    (7, "g", 2.0, ("christian",), ()),
]
RELIGIONS = ("christian", "jewish", "muslim")


def write_hate_speech(root: Path, rows=HATE_ROWS, *, drop_column: str | None = None, bool_style: str = "bool") -> Path:
    """``measuring-hate-speech.csv`` in the release's column naming, one row per annotation.

    ``bool_style`` "bool" writes True/False (as pandas does), "int" writes 1/0.
    """
    records = []
    for annotator, (comment, text, score, religion, race) in enumerate(rows):
        record = {"comment_id": comment, "annotator_id": 100 + annotator, "platform": 1, "hate_speech_score": score,
                  "text": text, "target_race": bool(race), "target_religion": bool(religion)}
        record.update({f"target_race_{g}": g in race for g in ("asian", "black", "white")})
        record.update({f"target_religion_{g}": g in religion for g in RELIGIONS})
        records.append(record)
    table = pd.DataFrame.from_records(records)
    if bool_style == "int":
        table = table.astype({c: int for c in table.columns if table[c].dtype == bool})
    if drop_column:
        table = table.drop(columns=[drop_column])
    root.mkdir(parents=True, exist_ok=True)
    table.to_csv(root / "measuring-hate-speech.csv", index=False)
    return root
