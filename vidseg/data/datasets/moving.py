"""Moving-object subsets of DAVIS and YouTube-VOS (paper 001), class-agnostic.

- ``davis_moving_val``: the 22 DAVIS-2017 val sequences in which all moving objects and only moving objects
  are labelled (``release/davis17/moving_val_sequences.txt`` of the official code; the paper says 23 of 30),
  DAVIS-2017 instance masks, every frame annotated; evaluated with the paper's P/R/F (``FBMSEvaluator``).
- ``ytvos_moving_{train,val}``: 396 / 101 videos of the YouTube-VOS 2018 *train* split (random 80/20 split,
  then filtered by hand: every moving object labelled, no static one; ``release/ytvos/moving_*_sequences.txt``).
  Frames and PNGs from ``ytvos_2018/train``; flow from ``ytvos_2018/train/flow/<video>/<frame stem>.flo`` when
  present (the paper computed it on the 30 fps frames: store the flow from each 6 fps frame to its next 30 fps
  frame under the 6 fps frame's stem), else per ``INPUT.FLOW.SOURCE``.

DAVIS-2016 train with DAVIS-2017 instance masks (the joint model's training set) is ``davis_2016_train_instance``.
"""
from __future__ import annotations

from pathlib import Path

from vidseg.data.io.errors import require_exists

from .builtin import OBJECT, BuiltinDataset
from .common import datasets_root, list_frames
from .davis import png_sequence_record

__all__ = ["DAVIS_MOVING_VAL", "DAVIS_MOVING_TRAIN", "YTVOS_MOVING", "moving_datasets", "load_moving_sequences"]

DAVIS_MOVING_VAL = tuple("""
    bike-packing blackswan bmx-trees car-shadow cows dance-twirl dog dogs-jump drift-chicane drift-straight goat
    horsejump-high judo kite-surf libby mbike-trick motocross-jump paragliding-launch parkour pigs shooting soapbox
""".split())
# DAVIS-2016 train (the joint model's DAVIS training videos), for reference and checks
DAVIS_MOVING_TRAIN = tuple("""
    bear bmx-bumps boat breakdance-flare bus car-turn dance-jump dog-agility drift-turn elephant flamingo hike
    hockey horsejump-low kite-walk lucia mallard-fly mallard-water motocross-bumps motorbike paragliding rhino
    rollerblade scooter-gray soccerball stroller surf swing tennis train
""".split())
YTVOS_MOVING = {
    "train": tuple("""
    005a527edd 013099c098 01694ad9c8 01b80e8e1a 01ed275c6e 02d28375aa 03e2b57b0e 05a569d8aa 0693719753
    070c918ca7 081d8250cb 0866d4c5e3 09338adea8 09a6841288 0a2f2bd294 0a8c467cc3 0b7dbfa3cb 0bcfc4177d
    0cfe974a89 0db5c427a5 0e30020549 0eb403a222 0f5fbe16b0 104e64565f 115ee1072c 117cc76bda 16288ea47f
    16af445362 16c3fa4d5d 1705796b02 17c7bcd146 18913cc690 189b44e92c 19e8bc6178 19ee80dac6 1ab27ec7ea
    1bbc4c274f 1c72b04b56 1da4e956b1 1dec5446c8 1f64955634 2268e93b0a 238b84e67f 2489d78320 258b3b33c6
    26bc786d4f 26ddd2ef12 29d779f9e3 2a18873352 2a8c5b1342 2bffe4cf9a 2c11fedca8 2c2c076c01 2d33ad3935
    2e42410932 2feb30f208 2ff7f5744f 30a20194ab 310021b58b 3245e049fb 32a7cd687b 34370a710f 346e92ff37
    351c822748 3649228783 365f459863 374b479880 375a5c0e09 377db65f60 3935e63b41 39bc49a28c 39c3c7bf55
    3a0d3a81b7 3a33f4d225 3a7bdde9b8 3b6e983b5b 3beef45388 3c2784fc0d 3e7d2aeb07 3ec273c8d5 3ee062a2fd
    3efc6e9892 3f45a470ad 4182d51532 42eb5a5b0f 47269e0499 4894b3b9ea 48bd66517d 49ec3e406a 4a885fa3ef
    4b19c529fb 4b54d2587f 4cef87b649 4dfaee19e5 4e7a28907f 4f470cc3ae 4fa160f8a3 4fffec8479 50568fbcfb
    50efbe152f 50f290b95d 52355da42f 52c7a3d653 536096501f 549c56f1d4 558aa072f0 57243657cf 579393912d
    58163c37cd 58adc6d8b6 59323787d5 59d53d1649 5a25c22770 5a841e59ad 5ac7c88d0c 5af15e4fc3 5b5babc719
    5bf23bc9d3 5c74315dc2 5c83e96778 5d0e07d126 5e1011df9a 5e4849935a 5e886ef78f 5ede9767da 5eecf07824
    5fb8aded6a 6024888af8 6061ddbb65 614afe7975 61fd977e49 62ad6e121c 6419386729 64dd6c83e3 64f55f1478
    692ca0e1a2 69a436750b 69aebf7669 6a5de0535f 6a80d2e2e5 6ba99cc41f 6bf584200f 6c0949c51c 6c623fac5f
    6c9e3b7d1a 6caeb928d6 6e4f460caf 6eb2e1cd9e 6f49f522ef 71caded286 72690ef572 72b01281f9 731b825695
    733824d431 73c6ae7711 74267f68b9 74ec2b3073 772a0fa402 77e7f38f4d 7806308f33 784398620a 79bc006280
    79fcbb433a 7a13a5dfaa 7a8b5456ca 7c649c2aaf 7d11b4450f 7d783f67a9 7e7cdcb284 7eb2605d96 7f21063c3a
    7f3658460e 7f5faedf8b 80c4a94706 824973babb 832b5ef379 83424c9fbf 83ae88d217 852a4d6067 85ab85510c
    868d6a0685 8799ab0118 8883e991a9 8891aa6dfa 89ebb27334 8aa817e4ed 8ae168c71b 8b3645d826 8b473f0f5d
    8bffc4374b 8d167e7c08 8dcccd2bd2 8e478e73f3 8eddbab9f7 8f1ce0a411 8f320d0e09 8f81c9405a 902bc16b37
    90bc4a319a 911ac9979b 9198cfb4ea 91c33b4290 9268e1f88a 92b5c1fc6d 935d97dd2f 93901858ee 93a22bee7e
    94cf3a8025 94e76cbaf6 952058e2d0 95bd88da55 96e1a5b4f8 9720eff40f 972c187c0d 97ba838008 9893d9202d
    98c7c00a19 99c4277aee 9b22b54ee4 9bce4583a2 9bebf1b87f 9c404cac0c 9d01f08ec6 9f97bc74c8 a0071ae316
    a18ad065fc a2e6608bfa a38950ebc2 a3b40a0c1e a4a506521f a522b1aa79 a5b77abe43 a832fa8790 a973f239cd
    aa175e5ec7 aa45f1caaf aaba004362 aaff16c2db ab23b78715 abbe73cd21 abeae8ce21 acf736a27b acff336758
    ad573f7d31 adabbd1cc4 adc648f890 add21ee467 ae01cdab63 ae628f2cd4 ae8545d581 aed4e0b4c4 aef3e2cb0e
    afcb331e1f afe1a35c1e b05ad0d345 b0623a6232 b06f5888e6 b11099eb09 b1f540a4bd b1fc9c64e1 b241e95235
    b2432ae86d b258fb0b7d b3779a1962 b379ab4ff5 b3dde1e1e9 b4d0c90bf4 b6070de1bb b63094ba0c b82e5ad1c9
    b8c03d1091 b941aef1a0 ba98512f97 baedae3442 bb334e5cdb bcd1d39afb bda4a82837 bdccd69dde bddcc15521
    be9b29e08e beb921a4c9 bf28751739 bfcb05d88d c0e8d4635c c279e641ee c2a35c1cda c30a7b62c9 c3128733ee
    c3509e728d c39559ddf6 c3dd38bf98 c41e6587f5 c479ee052e c4f5b1ddcc c557b69fbf c7ebfc5d57 c89147e6e8
    c9999b7c48 c9d1c60cd0 ca4b99cbac ca91c69e3b cad673e375 caecf0a5db cb15312003 cdcfe008ad cdd57027c2
    ce1bc5743a ce49b1f474 ce6866aa19 ce7dbeaa88 cef824a1e1 cfda2dcce5 d05279c0bd d154e3388e d1802f69f8
    d3069da8bb d38d1679e2 d3987b2930 d3ae1c3f4c d3eefae7c5 d429c67630 d4a607ad81 d4b063c7db d689658f06
    d6eed152c4 d6faaaf726 d7bb6b37a7 d7c7e064a6 d7fbf545b3 d99d770820 da0e944cc4 db231a7100 dbfc417d28
    dc1745e0a2 dc704dd647 dc71bc6918 dc7771b3be dd9fe6c6ac de6a9382ca defb71c741 e0bdb5dfae e0de82caa7
    e0f217dd59 e128124b9d e158805399 e2c87a6421 e2fb1d6497 e33c18412a e36ac982f0 e391bc981e e402d1afa5
    e44e0b4917 e4922e3726 e495f32c60 e4af66e163 e4eaa63aab e4f8e5f46e e5fde1574c e75a466eea e845994987
    ea065cc205 ea16d3fd48 eaed1a87be eb6992fe02 ec3d4fac00 ed3291c3d6 ed72ae8825 ed8f814b2b edd22c46a2
    ee6f9b01f9 eebf45e5c5 ef0061a309 ef0a8e8f35 ef44945428 f05b189097 f0a7607d63 f1d99239eb f277c7a6a4
    f3a0ffc7d9 f40a683fbe f46184f393 f507a1b9dc f5d85cfd17 f7e0c9bb83 f7e6bd58be f89288d10c f8af30d4b6
    f8c3fb2b01 f9681d5103 fb49738155 fb4cbc514b fb5ba7ad6e fbe541dd73 fcb10d0f81 fcfd81727f fea8ffcd36
""".split()),
    "val": tuple("""
    0248626d9a 04474174a4 04fbad476e 05ffcfed85 0fc958cde2 103f501680 1232b2f1d4 12ec9b93ee 17656bae77
    1ca240fede 20c6d8b362 217bae91e5 22d9f5ab0c 23b3beafcc 28d9fa6016 2c1e8c8e2f 35195a56a1 36299c687c
    390ca6f1d6 39d584b09f 3b7a50b80d 457e717a14 4804ee2767 499bf07002 4b556740ff 51a597ee04 51b5dc30a0
    53143511e8 545468262b 59a6459751 5e8d59dc31 5f51876986 625b89d28a 644bad9729 65bd5eb4f5 6848e012ef
    68807d8601 697d4fdb02 6a37a91708 6c9d29d509 6d6d2b8843 735a7cf7b9 7435690c8c 779e847a9a 7a3c535f70
    7c37d7991a 851f2f32c1 8662d9441a 86d3755680 8b3805dbd4 8bbeaad78b 8e3a83cf2d 8f3b4a84ad 94e4b66cff
    967b90590e 97659ed431 985c3be474 98d044f206 9966f3adac 99c6b1acf2 9a2f2c0f86 9a7fc1548b 9c7feca6e4
    9efb47b595 a2c146ab0d a3f2878017 a71e0481f5 b19c561fab b1d7c03927 b40b25055c b4eaea9e6b b5f1c0c96a
    b6d65a9eef b841cfb932 bd3ec46511 bda224cb25 bdb74e333f c10d07c90d c95cd17749 d0acde820f d2ebe0890f
    d36d16358e d6ac0e065c df8ad5deb9 e0be1f6e17 e3d60e82d5 e4b2095f58 e57f4f668b e597442c99 e8d97ebece
    e92b6bfea4 e9582bdd1b ea444a37eb ece6bc9e92 ef5dde449d f1ec5c08fa f3b24a7d28 f52104164b f6e501892c
    fa88d48a92 fcf637e3ab
""".split()),
}
LAYOUT = "<root>/{JPEGImages,Annotations}/<sequence>/ with one PNG per frame"


def load_moving_sequences(
    image_root: str | Path, ann_root: str | Path, sequences: tuple[str, ...], *, flow_root: str | Path | None = None
) -> list[dict]:
    """Records of the listed sequences (``<image_root>/<seq>/`` frames, ``<ann_root>/<seq>/<stem>.png`` masks on
    every frame, optional ``<flow_root>/<seq>/<stem>.flo``), in list order."""
    records = []
    for seq in sequences:
        flow_dir = None if flow_root is None else Path(flow_root) / seq
        records.append(png_sequence_record(
            seq,
            frames=list_frames(Path(image_root) / seq, layout=LAYOUT),
            ann_dir=require_exists(Path(ann_root) / seq, what="annotation folder", layout=LAYOUT),
            require_all=True,
            flow_dir=flow_dir if flow_dir is not None and flow_dir.is_dir() else None,
        ))
    return records


def _davis_moving() -> BuiltinDataset:
    def paths() -> dict[str, str]:
        root = datasets_root() / "DAVIS"
        return {"gt_root": str(root / "Annotations" / "480p"), "image_root": str(root / "JPEGImages" / "480p"),
                "flow_root": str(root / "flow" / "480p")}

    return BuiltinDataset(task="moseg", thing_classes=OBJECT, has_gt=True, paths=paths, load=lambda p, name: (
        load_moving_sequences(p["image_root"], p["gt_root"], DAVIS_MOVING_VAL, flow_root=p["flow_root"])))


def _ytvos_moving(split: str) -> BuiltinDataset:
    def paths() -> dict[str, str]:
        root = datasets_root() / "ytvos_2018" / "train"
        return {"gt_root": str(root / "Annotations"), "image_root": str(root / "JPEGImages"),
                "flow_root": str(root / "flow")}

    return BuiltinDataset(task="moseg", thing_classes=OBJECT, has_gt=True, paths=paths, load=lambda p, name: (
        load_moving_sequences(p["image_root"], p["gt_root"], YTVOS_MOVING[split], flow_root=p["flow_root"])))


def moving_datasets() -> dict[str, BuiltinDataset]:
    """The moving-object dataset names registered by :func:`~.builtin.register_all_builtin`."""
    return {"davis_moving_val": _davis_moving(), "ytvos_moving_train": _ytvos_moving("train"),
            "ytvos_moving_val": _ytvos_moving("val")}
