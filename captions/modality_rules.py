"""Caption phrases that signal an imaging modality, and the matcher that finds them.

Each ``Rule`` ties a regular expression to a modality code (see ``captions/vocab/modality/
taxonomy.csv``) and a weight. The weights are log-odds-like votes, on this rough scale:

- 2–3: the phrase names the modality ("confocal", "computed tomography", "Western blot").
- about 1: the phrase usually goes with it ("stained with", "lanes", "schematic model").
- 0.2–0.6: the phrase only hints at it ("± SEM", "scale bar, 10 µm", "×400").

Rules of one ``family`` share a cap, so that a long caption full of statistics cannot turn an
image panel into a chart.

How ambiguity is handled:

- Abbreviations (CT, MRI, PET, OCT, IHC, H&E, TEM, SEM, ECG, EEG…) are matched case-sensitively
  and on word boundaries. "Ct values" and "CT26" do not match.
- Abbreviations that are common in captions for other reasons need words around them (``require``),
  and are dropped when other words are near (``veto``). Examples:
  - SEM: it is the standard error far more often than scanning electron microscopy. So "± SEM" and
    "mean ± SEM" never count, and "SEM images" does.
  - CT: "CT values" and "ΔCt" are qPCR cycle thresholds. "CT-guided biopsy" shows a biopsy.
  - PET: "PET film" and "PET membrane" are polyethylene terephthalate.
  - OCT: "OCT compound" and "embedded in OCT" are the cryo-embedding medium.
  - X-ray: "X-ray crystal structure", "X-ray diffraction" and "X-ray photoelectron spectra" are not
    radiographs.
  - US: "US" counts only next to words such as "image" or "Doppler".
- Negated and contrasted mentions ("no CT", "without contrast", "unlike MRI", "compared with
  CT") still count, at ``NEGATED_FACTOR`` of their weight (see ``is_negated``).

``find_hits(text)`` is the matcher. Most rules are skipped by a plain substring test (``needles``)
before any regex runs, which keeps classification at several thousand captions per second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Hit",
    "Rule",
    "RULES",
    "REMAPPED_SYNONYMS",
    "UNUSED_SYNONYMS",
    "NEGATED_FACTOR",
    "find_hits",
    "is_negated",
]

NEGATED_FACTOR = 0.15
_WINDOW = 40


@dataclass(frozen=True, slots=True)
class _Branch:
    """One top-level alternative of a rule's pattern, compiled on its own.

    ``gates``: word-start prefixes (2–4 characters, lower case); the branch runs only when a word
    of the text starts with one of them. ``subs``: substrings of which one must occur instead (for
    branches with no derivable gate). ``word_start``: the leading ``\\b`` was taken out of the
    regex and is checked on each match instead. A regex that starts with a literal runs about ten
    times faster in Python's ``re`` than one that starts with ``\\b``.
    """

    gates: tuple[str, ...]
    subs: tuple[bytes, ...]
    regex: re.Pattern[str]
    regex_ci: re.Pattern[str] | None
    word_start: bool


@dataclass(frozen=True)
class Rule:
    """One caption phrase → modality vote.

    ``needles``: substrings of which one must occur for the rule to run. They are only needed for
    alternatives of ``pattern`` that do not start with a word boundary and a literal (the matcher
    derives a gate from those itself). Case-insensitive rules compare the needles with the
    lower-cased text; ``case=True`` rules compare them with the text as written.
    ``require`` / ``veto``: regexes searched in ``window`` characters either side of the match;
    ``veto_after`` is matched right after it (anchored).
    """

    code: str
    pattern: str
    weight: float
    needles: tuple[str, ...]
    case: bool = False
    require: str | None = None
    veto: str | None = None
    veto_after: str | None = None
    window: int = _WINDOW
    family: str = ""
    branches: tuple[_Branch, ...] = field(init=False, repr=False, compare=False)
    require_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    veto_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    veto_after_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        re.compile(self.pattern)  # fail early, with the whole pattern in the message
        if not self.case:
            object.__setattr__(self, "needles", tuple(n.lower() for n in self.needles))
        parts = [alt for b in _split_top(self.pattern) for alt in _distribute(b)]
        object.__setattr__(self, "branches", tuple(self._branch(b) for b in parts))
        object.__setattr__(self, "require_re", re.compile(self.require, re.I) if self.require else None)
        object.__setattr__(self, "veto_re", re.compile(self.veto, re.I) if self.veto else None)
        object.__setattr__(
            self, "veto_after_re", re.compile(self.veto_after, re.I) if self.veto_after else None
        )
        if not self.family:
            object.__setattr__(self, "family", f"{self.code}:{self.pattern[:40]}")

    def _branch(self, branch: str) -> _Branch:
        gates = _gates(branch)
        subs: tuple[str, ...] = ()
        if not gates:
            head = _literal_prefix(branch[2:] if branch.startswith("\\b") else branch)
            if not self.case:
                head = head.lower()
            subs = (head,) if len(head) >= 2 or (head and not self.needles) else self.needles
        word_start = branch.startswith("\\b") and (bool(gates) or branch.startswith("\\b\\d"))
        body = branch[2:] if word_start else branch
        subs_b = tuple(x.encode("utf-8") for x in subs)
        if self.case:
            return _Branch(gates, subs_b, re.compile(body), None, word_start)
        # Case-insensitive rules run a lower-cased pattern on the lower-cased text (about four
        # times faster than re.IGNORECASE); regex_ci is the fallback for the rare texts whose
        # lower-casing changes their length.
        return _Branch(gates, subs_b, re.compile(_lower_pattern(body)), re.compile(body, re.I), word_start)


def _split_top(pattern: str) -> list[str]:
    """Top-level alternatives of a regex (``a|(b|c)d`` → ``a``, ``(b|c)d``)."""
    parts: list[str] = []
    depth = 0
    in_class = False
    cur: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            cur.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


_META = set("()[]{}?*+|.^$\\")
_QUANT = set("?*+{")


def _literal_prefix(s: str) -> str:
    """The literal characters a regex fragment must start with ("plots?" → "plot")."""
    out: list[str] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "-./'&%#@:;,<>=!~`\"":
            lit, step = s[i + 1], 2
        elif ch in _META:
            break
        else:
            lit, step = ch, 1
        if i + step < len(s) and s[i + step] in _QUANT:
            break
        out.append(lit)
        i += step
    return "".join(out)


def _alternatives(group: str) -> list[str] | None:
    """Alternatives of a leading ``(?:a|b)`` group, or None when the fragment does not start so."""
    if not group.startswith("(?:"):
        return None
    depth = 0
    for j, ch in enumerate(group):
        if ch == "(" and (j == 0 or group[j - 1] != "\\"):
            depth += 1
        elif ch == ")" and group[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                after = group[j + 1 : j + 2]
                if after and after in _QUANT:  # an optional leading group: no gate
                    return None
                return _split_top(group[3:j])
    return None


def _distribute(branch: str) -> list[str]:
    """``\\b(?:a|b)c`` → ``\\bac``, ``\\bbc``: each alternative gets a literal start of its own,
    so that it is gated separately and searched with ``re``'s fast literal prefix scan."""
    if not branch.startswith("\\b(?:"):
        return [branch]
    body = branch[2:]
    alts = _alternatives(body)
    if alts is None or len(alts) < 2:
        return [branch]
    depth = 0
    for j, ch in enumerate(body):
        if ch == "(" and (j == 0 or body[j - 1] != "\\"):
            depth += 1
        elif ch == ")" and body[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                rest = body[j + 1 :]
                break
    else:  # pragma: no cover - _alternatives found the group, so it closes
        return [branch]
    return ["\\b" + a + rest for a in alts]


def _gates(branch: str) -> tuple[str, ...]:
    """Word-start gates for a branch that begins with ``\\b`` and literal text (or a group of
    literal alternatives); () when none can be derived."""
    if not branch.startswith("\\b"):
        return ()
    body = branch[2:]
    alts = _alternatives(body)
    heads = [_literal_prefix(a) for a in alts] if alts is not None else [_literal_prefix(body)]
    gates: list[str] = []
    for head in heads:
        key = _GATE_TOKEN.match(head.lower())
        if key is None or len(key.group(0)) < 2:
            return ()
        gates.append(key.group(0)[:4])
    return tuple(dict.fromkeys(gates))


_GATE_TOKEN = re.compile(r"[^\W_]+")


def _lower_pattern(pattern: str) -> str:
    """Lower-case a regex, leaving escapes (``\\B``, ``\\W``, ``\\S``, ``\\D``…) as they are."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append(ch.lower())
        i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Hit:
    rule: Rule
    start: int
    end: int
    phrase: str
    negated: bool


def R(code: str, pattern: str, weight: float, *needles: str, **kw) -> Rule:  # noqa: N802
    return Rule(code, pattern, weight, tuple(needles), **kw)


# Words near "SEM" that make it the standard error of the mean.
_STATS = (
    r"±|\+/-|\bmeans?\b|\baverages?\b|s\.e\.m|standard error|error bars?|\bSD\b|\bn ?=|\bp ?[<=>≤]|"
    r"presented as|expressed as|shown as|values are|data are"
)

RULES: tuple[Rule, ...] = (
    # ------------------------------------------------------------------ radiology
    R("radiology.ct",
      r"\bcomputed (?:axial )?tomograph\w*|\bcomputeri[sz]ed (?:axial )?tomograph\w*|\bCAT scans?\b",
      2.5, "tomograph", "cat scan"),
    R("radiology.ct", r"\b(?:micro-?|µ|μ|MD|MS|HR|CB|CE|NC|LD)?CT(?:A|PA)?\b(?![-–]?\d)", 2.2, "CT", case=True,
      veto=r"\bcycle|threshold|q?PCR|[Δ∆]|delta|toxin|antigens?\b|C-termin|terminus|terminal|domain|\bCT[- ]?\d",
      veto_after=r"[\s-]*(?:values?|method|guided|based|derived|numbers?|scores?)\b", window=30),
    R("radiology.ct", r"\bHounsfield", 1.5, "hounsfield"),
    # "tomography" said of a body region or a plane is X-ray CT in clinical captions; the other
    # tomographies name themselves (optical coherence, positron emission, electron, photoacoustic)
    R("radiology.ct",
      r"\b(?:chest|thoracic|abdominal|abdominopelvic|pelvic|cranial|head|brain|neck|cardiac|coronary|"
      r"lung|pulmonary|spinal|sinus|dental|axial|coronal|sagittal|spiral|helical|multi-?slice|"
      r"multi-?detector|contrast[- ]enhanced) tomograph\w*|\btomography scans?\b|"
      r"\b(?:lung|mediastinal|bone|soft[- ]tissue|pulmonary) windows?\b",
      2.0, "tomograph", "window",
      veto=r"optical|coherence|positron|emission|photon|electron|photoacoustic|OCT|PET|SPECT|cryo",
      window=25),
    R("radiology.mri", r"\bmagnetic resonance(?! spectr)", 2.5, "magnetic resonance",
      veto=r"nuclear magnetic resonance(?! (?:imag|scan|tomograph))|\bNMR\b|spectroscop", window=30),
    R("radiology.mri",
      r"\b(?:f|c|DW-?|DCE-?)?MRIs?\b|\bMR(?: \w+)? (?:images?|imaging|scans?|angiograph\w*|"
      r"venograph\w*|sequences?)\b|\bMRA\b|\bMRCP\b|\bCMR\b",
      2.5, "MR", case=True),
    R("radiology.mri",
      r"\bT1[- ]?weighted|\bT2[- ]?weighted|\bT1WI?\b|\bT2WI?\b|\bFLAIR\b|"
      r"\bfluid[- ]attenuated inversion recovery|\bdiffusion[- ]weighted|\bDWI\b|\bADC maps?|"
      r"\bapparent diffusion coefficient|\bgadolinium|\bdiffusion tensor|\btractograph\w*|"
      r"\bsusceptibility[- ]weighted|\bSTIR\b",
      1.6,
      "weighted", "t1", "t2", "flair", "fluid", "dwi", "adc", "diffusion", "gadolinium", "tractograph",
      "stir", "susceptibility"),
    R("radiology.mri",
      r"\b(?:DTI|SWI|DCE|ASL)\b",
      1.2, "DTI", "SWI", "DCE", "ASL", case=True, require=r"imag|map|MRI|MR\b|scan|sequence|weighted", window=40),
    R("radiology.xray",
      r"\bradiograph\w*|\broentgeno\w*|\bX-radiograph\w*|\bplain films?\b|\bCXR\b|\bKUB\b|"
      r"\borthopantomogra\w*|\bcephalogra\w*|\bbitewing|\bperiapical (?:radiograph|film|view)",
      2.2,
      "radiograph", "roentgen", "plain film", "cxr", "kub", "orthopantomogra", "cephalogra", "bitewing",
      "periapical"),
    R("radiology.xray", r"\bX[- ]?rays?\b|\bx ray\b", 1.8, "x-ray", "xray", "x ray",
      veto=r"crystal|diffract|photoelectron|scattering|absorption|fluorescen|spectr|synchrotron|emission|"
      r"microanaly|\bXPS\b|\bXRD\b|\bEDX|structure|tomograph|microscop|beamline|photon|laue|SAXS|"
      r"WAXS|irradiat",
      window=30),
    R("radiology.xray",
      r"\bDXA\b|\bDEXA\b|\bdual[- ]energy X-ray absorptiometry",
      1.8, "DXA", "DEXA", "absorptiometry"),
    R("radiology.ultrasound",
      r"\bultrasound\b|\bultrasonogra\w*|\bsonogra\w*|\bechogra\w*|\bechocardiogra\w*|"
      r"\belastogra\w*|\bduplex scan",
      2.4,
      "ultrasound", "ultrasonogra", "sonogra", "echogra", "echocardiogra", "elastogra", "duplex scan",
      veto=r"ultrasound bath|ultrasonic|sonicat|ultrasound-assisted|ultrasound treatment|"
      r"ultrasound irradiation", window=15),
    R("radiology.ultrasound", r"\b(?:US|USG|EUS|IVUS|CEUS|TTE|TEE|TOE)\b", 1.6, "US", "TTE", "TEE", "TOE", case=True,
      require=r"imag|scan|exam|guided|B-mode|Doppler|probe|transducer|finding|show|reveal|echo|view",
      veto=r"United|U\.S\.|dollars?|\$|FDA|American|national|federal", window=30),
    R("radiology.ultrasound", r"\bDoppler\b|\bB-mode\b|\bM-mode\b", 1.4, "doppler", "b-mode", "m-mode",
      veto=r"laser", window=20),
    R("radiology.angiography",
      r"\bangiogra\w*|\barteriogra\w*|\bvenogra\w*|\baortogra\w*|\blymphangiogra\w*|"
      r"\bdigital subtraction|\bventriculogra\w*|\bportogra\w*",
      2.2,
      "angiogra", "arteriogra", "venogra", "aortogra", "subtraction", "ventriculogra", "portogra",
      veto=r"\bCT\b|computed tomograph|\bMRA?\b|magnetic resonance|fluorescein|indocyanine|\bICG|\bOCT|"
      r"optical coherence|retina|choroid|fundus|\bFA\b", window=25),
    R("radiology.angiography",
      r"\bDSA\b",
      1.2, "DSA", case=True, require=r"angio|arter|vessel|stenosis|aneurysm|imag", window=40),
    R("radiology.pet", r"\bpositron[- ]emission tomograph\w*", 2.6, "positron"),
    R("radiology.pet",
      r"\b(?:\d*F?-?FDG[- ]?|PSMA[- ]|amyloid[- ]|tau[- ])?PET(?:/CT|-CT|/MRI?|-MRI?)?\b(?![-–]?\d)",
      2.4, "PET", case=True,
      veto=r"polyethylene|terephthalate|films?\b|bottles?|membranes?|substrates?|fib(?:er|re)|plastic|"
      r"foil|textile|fabric|mesh|scaffold|electrode|flexible|polymer|coated|sheet",
      window=30),
    R("radiology.pet", r"\bSUV(?:max|mean|peak)?\b", 1.0, "SUV", case=True),
    R("radiology.spect", r"\bSPECT(?:/CT|-CT)?\b", 2.5, "SPECT", case=True, family="radiology.spect:names"),
    R("radiology.spect", r"\bsingle[- ]photon emission", 2.5, "single", family="radiology.spect:names"),
    R("radiology.spect",
      r"\bscintigra\w*|\blymphoscintigra\w*|\bgallium scan|\bthyroid scan|\bscintiscan|\bscintigram|"
      r"\bbone scans?\b|\bgamma camera|\bradionuclide (?:imag\w*|scan\w*|studies|study)|"
      r"\bnuclear medicine|\b99m ?Tc|\btechnetium|\bDaTscan|\boctreoscan|\bMIBG\b|\bV/Q scan|"
      r"\bventilation[- /]perfusion scan|\bmyocardial perfusion imaging",
      2.2,
      "scinti", "gallium scan", "thyroid scan", "bone scan", "gamma camera", "radionuclide",
      "nuclear medicine", "99m", "technetium", "datscan", "octreoscan", "mibg", "v/q", "perfusion scan",
      "perfusion imaging"),
    R("radiology.mammography",
      r"\bmammogra\w*|\btomosynthesis|\bcraniocaudal (?:view|projection)|\bmediolateral oblique",
      2.4, "mammogra", "tomosynthesis", "craniocaudal", "mediolateral oblique"),
    R("radiology.fluoroscopy",
      r"\bfluorosco\w*|\bbarium (?:swallow|meal|enema|study|esophagogram)|\bvideofluoro\w*|"
      r"\bcystourethrogra\w*|\bhysterosalpingogra\w*|\bmyelogra\w*|\bsialogra\w*|\besophagogra\w*|"
      r"\bupper GI series|\bC-arm\b",
      2.2,
      "fluorosco", "barium", "videofluoro", "urethrogra", "salpingogra", "myelogra", "sialogra",
      "esophagogra", "gi series", "c-arm"),
    R("radiology.fluoroscopy", r"\b(?:VCUG|VFSS|HSG)\b", 1.6, "VCUG", "VFSS", "HSG", case=True),
    R("radiology",
      r"\bradiolog\w*|\bimaging findings|\baxial (?:image|slice|view|section)s?|\bcoronal (?:image|"
      r"slice|view|section|reformat)s?|\bsagittal (?:image|slice|view|section|reformat)s?|"
      r"\bcontrast[- ]enhanced\b",
      0.8,
      "radiolog", "imaging findings", "axial", "coronal", "sagittal", "contrast-enhanced", "contrast enhanced"),
    # ------------------------------------------------------------------ microscopy
    R("microscopy",
      r"\bmicroscop\w*|\bmicrograph\w*|\bphotomicrograph\w*",
      1.0, "microscop", "micrograph", family="microscopy:words"),
    R("microscopy",
      r"\bmagnifications?\b|\bobjective lens|\b\d{1,3}\s?[×x*]\s?objective|\bmagnified (?:view|"
      r"image)",
      0.8, "magnif", "objective", family="microscopy:magnification"),
    R("microscopy", r"(?<![\w.])[×x*]\s?\d{2,4}\b(?!\s?\d)|\b\d{2,4}\s?[×x*](?![\d×x*])", 0.35,
      "×", "*", "0x", "0 x", "3x", "3 x", "x1", "x2", "x4", "x6", "x 1", "x 2", "x 4", "x 6",
      family="microscopy:magnification",
      veto=r"\d\s?[×x*]\s?10\s?\^|\bcells|\bwells?|\bdesign|\bmatrix|\bpixels?|\bgrid|\bfactorial|mg|"
      r"\bkg|\bμl|\bµl|\bml\b|\bmM\b|\bcm\b|\bmm\b", window=15),
    R("microscopy",
      r"\bscale[- ]?bars?\b[^.;]{0,60}?\d\s*(?:µm|μm|um|mum|microns?|micrometers?|μ\s?m)\b|"
      r"\b\d+(?:\.\d+)?\s*(?:µm|μm|um|mum)\s+scale",
      0.6, "bar", "scale", family="microscopy:scalebar"),
    R("microscopy",
      r"\b(?:representative|confocal|optical|serial|tissue|paraffin|frozen|cryo-?|semi-?thin|"
      r"ultra-?thin|coronal|transverse|sagittal|longitudinal) sections?\b|\bsections? (?:were|"
      r"was) stained|\bstained (?:with|for)\b|\bcounter-?stain\w*|\bstaining (?:of|for|with|"
      r"pattern)\b|\bstainings?\b",
      0.45,
      "section", "stain", family="microscopy:staining"),
    R("microscopy",
      r"\brepresentative (?:images?|pictures?|fields?|views?)|\bimages? (?:were )?(?:acquired|"
      r"captured|taken) (?:with|using|on|by)|\bfield of view|\bFOV\b|\bkymogra\w*|\binsets?\b",
      0.4,
      "representative", "acquired", "captured", "taken", "field of view", "fov", "kymogra", "inset",
      family="microscopy:images"),
    R("microscopy.light",
      r"\blight[- ]microscop\w*|\blight micrograph\w*|\bbright[- ]?field\b|\bphase[- ]contrast\b|"
      r"\bdifferential interference contrast|\bstereo-?microscop\w*|\bdissecting microscope|"
      r"\binverted microscope|\bwhole[- ]slide images?|\bslide scan|\boptical microscop\w*|"
      r"\boptical micrograph\w*",
      2.0,
      "light", "bright", "phase", "interference", "stereo", "dissecting", "inverted", "whole-slide",
      "whole slide", "slide scan", "optical"),
    R("microscopy.light",
      r"\bDIC\b",
      1.5, "DIC", case=True, require=r"imag|microscop|optic|channel|merge|view|brightfield", window=25),
    R("microscopy.light",
      r"\bhaematoxylin|\bhematoxylin|\beosin\b|\bhematoxylin[- ]eosin",
      2.0,
      "hematox", "haematox", "eosin", family="microscopy.light:he",
      veto=r"counter-?stain\w*|counterstained", window=30),
    R("microscopy.light",
      r"\bH&E\b|\bH & E\b|\bH and E\b|\bHandE\b|\bHES\b(?! cells)",
      2.0,
      "H&E", "H & E", "H and E", "HandE", "HES", case=True, family="microscopy.light:he"),
    R("microscopy.light",
      r"\bHE\b",
      1.6, "HE", case=True, require=r"stain|section|[×x*]\s?\d|\d\s?[×x*]|magnif|histolog|original",
      window=25, family="microscopy.light:he"),
    R("microscopy.light",
      r"\b(?:Masson(?:'s)?|trichrome|Giemsa|Papanicolaou|Wright(?:'s)? stain|Gram stain|"
      r"periodic acid[- ]Schiff|Alcian blue|toluidine blue|Sirius red|picrosirius|Congo red|"
      r"Oil Red O|Ziehl|von Kossa|Alizarin red|Perl'?s|Prussian blue|crystal violet|Nissl|"
      r"cresyl violet|silver stain\w*|reticulin|Golgi stain|Sudan black|Verhoeff|elastica|Safranin|"
      r"Fontana|Grocott|Warthin|Luxol|Mayer'?s)|\bX-gal\b",
      1.8,
      "masson", "trichrome", "giemsa", "papanicolaou", "wright", "gram stain", "schiff", "alcian",
      "toluidine", "sirius", "congo", "oil red", "ziehl", "kossa", "alizarin", "perl", "prussian",
      "crystal violet", "nissl", "cresyl", "silver stain", "reticulin", "golgi", "x-gal", "sudan",
      "verhoeff", "elastica", "safranin", "fontana", "grocott", "warthin", "luxol", "mayer"),
    R("microscopy.light",
      r"\bPAS\b",
      1.6, "PAS", case=True, require=r"stain|section|positive|[×x*]\s?\d|magnif", window=30),
    R("microscopy.light",
      r"\bhistolog\w*|\bhistopatholog\w*|\bhistochem\w*|\bhistomorpholog\w*|\bcytolog\w*|\bcytospin|"
      r"\bsmears?\b|\bcell blocks?\b|\bFNA\b|\bfine[- ]needle aspirat\w*",
      1.3,
      "histolog", "histopatholog", "histochem", "histomorpholog", "cytolog", "cytospin", "smear",
      "cell block", "fna", "fine needle", "fine-needle"),
    R("microscopy.light", r"\bin situ hybridi[sz]ation|\bISH\b|\bRNAscope", 1.3, "situ", "ISH", "rnascope",
      veto=r"fluorescen|\bFISH|smFISH", window=25),
    R("microscopy.ihc",
      r"\bimmuno-?histochem\w*|\bimmunocytochem\w*|\bimmunoperoxidase|\bdiaminobenzidine|\bchromogen\w*",
      2.5,
      "immunohisto", "immuno-histo", "immunocyto", "immunoperoxidase", "diaminobenzidine", "chromogen",
      family="microscopy.ihc:names"),
    R("microscopy.ihc", r"\bIHC\b|\bDAB\b", 2.5, "IHC", "DAB", case=True, family="microscopy.ihc:names"),
    R("microscopy.ihc",
      r"\b(?:nuclear|cytoplasmic|cytoplasmatic|membranous|membrane|diffuse|strong|weak|moderate|"
      r"intense|focal|granular|positive|negative) (?:staining|immunoreactivity|immunostaining|"
      r"expression|positivity|labell?ing|reactivity)\b|\b(?:staining|immunoreactivity) (?:intensity|"
      r"scores?|patterns?)",
      0.9,
      "nuclear", "cytoplasm", "membran", "diffuse", "strong", "weak", "moderate", "intense", "focal",
      "granular", "positive", "negative", "staining", "immunoreactivity", family="microscopy.ihc:patterns"),
    R("microscopy.ihc", r"\b[A-Z][A-Za-z0-9-]{1,10} (?:stain|staining|immunostain)\b", 0.8, "stain", case=True,
      veto=r"H&E|\bHE\b|\bPAS\b|\bHES\b|Giemsa|Masson|Gram|Alcian|Sirius|Congo|Perl|Prussian|Nissl|Ziehl|"
      r"Wright|Papanicolaou|Oil Red|Trichrome|Golgi|Hoechst|DAPI|Alizarin|Safranin|Toluidine|Luxol|"
      r"Silver|Reticulin|Fontana|Grocott|Warthin|Verhoeff|Sudan|Nile|Phalloidin|Wheat|Dapi|Evans|"
      r"Crystal|Coomassie|Ponceau|Negative|Positive|Golgi|Immuno|Hematoxylin|Haematoxylin|Eosin|Von|"
      r"Van|X-gal|Gomori|Movat|Elastic|Iron", window=12, family="microscopy.ihc:patterns"),
    R("microscopy.ihc",
      r"\bcounter-?stain\w* (?:with )?h(?:a)?ematoxylin|\bh(?:a)?ematoxylin counter-?stain\w*|"
      r"\bhematoxylin (?:was used )?as (?:a )?counterstain",
      1.6,
      "counterstain", "counter-stain"),
    # a tissue "stained for" a named protein is immunostained; fluorescence words outvote it
    R("microscopy.ihc", r"\bstained for (?:the )?[\w-]+ (?:protein|expression|antigen)", 1.5, "stained for",
      veto=r"fluoresc|immunofluoresc|\bIF\b|confocal", window=60),
    R("microscopy.ihc",
      r"\bICC\b",
      1.5, "ICC", case=True, veto=r"correlation|coefficient|agreement|reliab|intraclass|intra-class", window=40),
    R("microscopy.ihc",
      r"\bimmuno-?stain\w*|\bimmuno-?label\w*|\bimmunoreactiv\w*|\bimmunopositiv\w*|"
      r"\bimmuno-?expression|\bpositivity\b|\bbrown (?:staining|colou?r|signal|precipitate)|"
      r"\btissue micro-?arrays?|\bTMAs?\b",
      1.3,
      "immunostain", "immuno-stain", "immunolabel", "immuno-label", "immunoreactiv", "immunopositiv",
      "immunoexpression", "immuno-expression", "positivity", "brown", "microarray", "micro-array", "TMA"),
    R("microscopy.fluorescence",
      r"\bfluorescen(?:ce|t) (?:microscop\w*|micrograph\w*|images?|imaging|confocal|signals?|"
      r"labell?ing|staining|in situ)|\bimmuno-?fluorescen\w*|\bconfocal|\bepifluorescen\w*|"
      r"\btwo-photon|\bmultiphoton|\blight[- ]sheet|\bsuper-?resolution|\bSTED\b|\bSTORM\b|\bPALM\b|"
      r"\bTIRF\w*|\bCLSM\b|\bFRAP\b|\bFRET\b|\bspinning[- ]disk|\bSIM\b(?= imag)|"
      r"\blive[- ](?:cell )?imaging|\bintravital",
      2.4,
      "fluoresc", "confocal", "photon", "sheet", "resolution", "STED", "STORM", "PALM", "TIRF", "CLSM",
      "FRAP", "FRET", "spinning", "SIM", "live", "intravital", case=False),
    R("microscopy.fluorescence", r"\b(?:sm|RNA-?)?FISH\b", 2.0, "FISH", case=True),
    R("microscopy.fluorescence",
      r"\bz-?stacks?\b|\bz-projections?|\bmaximum(?:[- ]intensity)? projections?|"
      r"\bprojected (?:confocal|z)|\boptical (?:sections?|slices?)|\bMARCM\b",
      1.2,
      "z-stack", "zstack", "z stack", "z-projection", "maximum", "projected", "optical", "marcm"),
    R("microscopy.fluorescence",
      r"\bIF\b",
      1.5, "IF", case=True, require=r"stain|imag|analys|microscop|signal|label", window=25),
    R("microscopy.fluorescence",
      r"\bDAPI\b|\bHoechst|\bDRAQ5|\bSYTOX|\bTO-PRO|\bphalloidin|\bMitoTracker|\bLysoTracker|"
      r"\bAlexa(?:[- ]?Fluor)?\b|\bFITC\b|\bTRITC\b|\bCy[2357](?:\.5)?\b|\bTexas Red|\bDyLight|"
      r"\bAtto ?\d{3}",
      1.2,
      "dapi", "hoechst", "draq5", "sytox", "to-pro", "phalloidin", "tracker", "alexa", "fitc", "tritc",
      "cy2", "cy3", "cy5", "cy7", "texas red", "dylight", "atto", family="microscopy.fluorescence:dyes"),
    R("microscopy.fluorescence", r"[GYCB]FP\b", 0.7, "fp", family="microscopy.fluorescence:fp"),
    R("microscopy.fluorescence",
      r"\bGFP|\bmCherry|\btdTomato|\bmClover\w*|\bmRuby\w*|\bmNeon\w*|\bmScarlet|\bmVenus|\bmKate|"
      r"\bmKO\b|\bDsRed|\bmTag\w*|\bmOrange|\bmEos|\bDendra|\bGCaMP|\bHaloTag",
      0.7,
      "fp", "cherry", "tomato", "clover", "ruby", "neon", "scarlet", "venus", "kate", "mko", "dsred", "mtag",
      "orange", "eos", "dendra", "gcamp", "halotag", family="microscopy.fluorescence:fp"),
    R("microscopy.fluorescence", r"\((?:in )?(?:green|red|magenta|cyan|blue|yellow|white|grey|gray)\)", 0.35,
      "(green", "(red", "(magenta", "(cyan", "(blue", "(yellow", "(white", "(grey", "(gray", "(in ",
      family="microscopy.fluorescence:channels"),
    R("microscopy.fluorescence",
      r"\bmerged? (?:images?|channels?|panels?|views?)|\bmerge\b|\boverlay of",
      0.5, "merge", "overlay",
      family="microscopy.fluorescence:channels"),
    R("microscopy.fluorescence",
      r"\bfluorescen\w*|\bfluorophore",
      0.6, "fluoresc", "fluorophore", family="microscopy.fluorescence:generic"),
    R("microscopy.electron",
      r"\b(?:immuno-?)?electron[- ]?micro\w*|\belectron tomogra\w*|\bcryo-?(?:electron|EM|ET)\w*|\bimmuno-?gold|"
      r"\bultrastruct\w*|\b(?:scanning|transmission) electron|\bfreeze[- ]fracture|\bHAADF|"
      r"\bnegative(?:ly)?[- ]stain(?:ed|ing)? (?:EM|electron|images?|micrograph)",
      2.6,
      "electron", "cryo", "immunogold", "immuno-gold", "ultrastruct", "freeze", "haadf", "negative"),
    R("microscopy.electron", r"\b(?:HR-?|cryo-?|HR)?TEM\b", 2.6, "TEM", case=True),
    R("microscopy.electron", r"\b(?:FE-?|HR-?|cryo-?|FIB-?)?SEM\b|\bFESEM\b", 2.4, "SEM", case=True,
      require=r"imag|micrograph|microscop|observ|morpholog|surface|topograph|cross[- ]section|top[- ]view|"
      r"scale bar|\bnm\b|µm|μm|magnif|photograph|\bview|analys|character",
      veto=_STATS, window=40),
    R("microscopy.electron", r"\b(?:HAADF-?|BF-?|ABF-?|ADF-?|DF-?)?STEM\b", 2.2, "STEM", case=True,
      require=r"HAADF|imag|EDS|EDX|EELS|annular|dark[- ]field|bright[- ]field|atomic|resolution|scale bar|"
      r"\bnm\b|micrograph", window=40),
    R("microscopy.electron", r"\b(?:cryo-?|ns-?|negative[- ]stain(?:ed|ing)? )?EM\b", 2.2, "EM", case=True,
      require=r"imag|micrograph|densit|map|grid|reconstruct|tomogra|section|class|structure|analys|data|"
      r"stain|resolution|particle",
      veto=r"algorithm|expectation|maximi[sz]ation|mixture|emergency|\bEM[- ]?algorithm", window=40),
    R("microscopy.electron",
      r"\b(?:2D|3D|reference-free|two-dimensional) class(?:es| averages?)|\bclass averages?|"
      r"\bdensity maps?|\bparticles? (?:pairs|images|picking)|\bFourier shell correlation|"
      r"\btilt[- ]pair|\bSAED\b|\blattice fringes|\bEELS\b|\bZ-contrast",
      1.2,
      "class", "density map", "particle", "fourier shell", "tilt", "SAED", "lattice fringe", "EELS", "z-contrast"),
    R("microscopy.electron",
      r"\bscale[- ]?bars?\b[^.;]{0,60}?\d\s*(?:nm|Å|angstrom)\b|\b\d+(?:\.\d+)?\s*nm\s+scale",
      0.8, "bar", "scale", family="microscopy.electron:scalebar"),
    # ------------------------------------------------------------------ photography
    R("photography",
      r"\bphotograph\w*|\bphotos?\b|\bpictures?\b|\bdigital camera|\bcamera\b|\bgross (?:appearance|"
      r"views?|specimens?|anatomy|morpholog\w*|photo\w*|images?|pathology|findings?|examination)|"
      r"\bmacroscop\w*|\bvideo frames?|\bsnapshots?|\bdissected\b|\bstereoscop\w*|"
      r"\bwhole[- ]mount (?:images?|views?)",
      1.2,
      "photo", "picture", "camera", "gross", "macroscop", "video frame", "snapshot", "dissected",
      "stereoscop", "whole-mount", "whole mount", family="photography:words"),
    # whole organisms and things seen with the naked eye (issue 14: specimen plates of taxonomy papers,
    # plants, cultures and dishes came out "other")
    R("photography",
      r"\b(?:holotypes?|paratypes?|habitus|fruiting bod(?:y|ies)|inflorescences?|flowers?|seedlings?|"
      r"callus|calli|(?:adventitious )?shoots|(?:inhibition )?zones? of inhibition|inhibition zones?|"
      r"petri dish\w*|fotografias?|fotos?)\b|\bcolou?r (?:changes?|of the (?:solution|culture|extract))",
      1.0,
      "holotype", "paratype", "habitus", "fruiting", "inflorescence", "flower", "seedling", "callus",
      "calli", "shoot", "inhibition", "petri", "foto", "colo", family="photography:things"),
    R("photography",
      r"\bscale[- ]?bars?\b[^.;]{0,60}?\d\s*(?:mm|cm)\b",
      0.5, "bar", "scale", family="photography:scalebar"),
    R("photography.clinical",
      r"\bclinical (?:photo\w*|pictures?|images?|appearance|features?|presentation|views?|aspect)|"
      r"\b(?:intra-?operative|operative|surgical|perioperative) (?:photo\w*|views?|findings?|"
      r"images?|field|pictures?)|\b(?:pre|post)-?operative (?:facial |clinical |intra-?oral |frontal )?"
      r"(?:photo\w*|pictures?|appearance|aspect)|\bfacial views?|\bdermoscop\w*|\bdermatoscop\w*|\bintra-?oral|\bextra-?oral|"
      r"\bfacial photo\w*|\bwound (?:photo\w*|appearance|healing)|\bpatient'?s? (?:face|skin|hands?|"
      r"legs?|feet|foot|arms?|back|trunk|chest|abdomen)",
      2.0,
      "clinical", "operative", "surgical", "dermoscop", "dermatoscop", "oral", "facial photo", "wound", "patient"),
    R("photography.clinical",
      r"\bskin lesions?|\b(?:cutaneous|skin) (?:nodules?|lesions?|rash|ulcer\w*|eruption\w*)|"
      r"\brash\b|\berythemat\w*|\bpapules?\b|\bplaques? on\b|\bnodules? (?:are|were) seen (?:on|"
      r"in) the|\bresected specimen|\bsurgical specimen",
      1.3,
      "skin", "cutaneous", "rash", "erythemat", "papule", "plaque", "nodule", "specimen"),
    # what the eye sees on a patient or an organ (issue 14: case-report photographs said nothing of
    # the camera): visible lesions on a body part, the appearance after an operation, gross specimens
    R("photography.clinical",
      r"\b(?:lesions?|nodules?|plaques?|patch(?:es)?|ulcers?|swelling|tumou?rs?|masses) (?:on|over|under|"
      r"of) the (?:(?:right|left|upper|lower|lateral|medial|dorsal|ventral|anterior|posterior) )*(?:skin|face|scalp|lips?|tongue|hands?|fingers?|feet|foot|toes?|legs?|arms?|hips?|calf|"
      r"knees?|neck|back|trunk|chest|abdomen|eyelids?)|\bhyperpigment\w*|\bdepigment\w*|"
      r"\bappearance (?:after|before|at)\b|\bgross (?:appearance|specimens?|views?|findings?|pathology)|"
      r"\bmacroscopic (?:appearance|views?|findings?)|\b(?:excised|resected) (?:specimens?|tumou?rs?|masses)",
      1.2,
      "lesion", "nodule", "plaque", "patch", "ulcer", "swelling", "tumo", "mass", "pigment", "appearance",
      "gross", "macroscopic", "excised", "resected", family="photography.clinical:findings"),
    R("photography.endoscopy",
      r"\bendoscop\w*|\bgastroscop\w*|\bcolonoscop\w*|\bsigmoidoscop\w*|\bbronchoscop\w*|"
      r"\blaryngoscop\w*|\bcystoscop\w*|\bhysteroscop\w*|\barthroscop\w*|\blaparoscop\w*|"
      r"\bthoracoscop\w*|\bcolposcop\w*|\botoscop\w*|\besophagogastroduodenoscop\w*|"
      r"\bnarrow[- ]band imaging|\bchromoendoscop\w*|\bnasendoscop\w*",
      2.3,
      "endoscop", "gastroscop", "colonoscop", "sigmoidoscop", "bronchoscop", "laryngoscop", "cystoscop",
      "hysteroscop", "arthroscop", "laparoscop", "thoracoscop", "colposcop", "otoscop", "duodenoscop",
      "narrow", "nasendoscop",
      veto_after=r"\s+ultrasound|\s+ultrasonograph"),
    R("photography.endoscopy", r"\b(?:EGD|ERCP|NBI)\b", 1.5, "EGD", "ERCP", "NBI", case=True),
    R("radiology.ultrasound",
      r"\bendoscopic ultraso\w*|\bendosonogra\w*|\bintravascular ultrasound",
      2.0, "endoscopic ultraso", "endosonogra", "intravascular ultrasound"),
    R("photography.fundus",
      r"\bfundus (?:photo\w*|images?|autofluorescence|camera|examination|pictures?)|\bfundoscop\w*|"
      r"\bfunduscop\w*|\bophthalmoscop\w*|\bretinal (?:photo\w*|images?|pictures?)|\bred-free|"
      r"\bslit[- ]lamp|\bfluorescein angiogra\w*|\bindocyanine green angiogra\w*|\bcolou?r fundus|"
      r"\bwide-?field (?:fundus|retinal)|\bultra-?widefield",
      2.3,
      "fundus", "fundoscop", "funduscop", "ophthalmoscop", "retinal", "red-free", "slit",
      "fluorescein angiogra", "indocyanine", "widefield"),
    R("photography.fundus", r"\b(?:ICGA|FAF|SLO)\b", 1.4, "ICGA", "FAF", "SLO", case=True),
    R("photography.fundus",
      r"\bfundus\b",
      1.2, "fundus", require=r"retin|optic (?:disc|nerve)|macula|ophthalm|\beyes?\b|ocular|choroid", window=60),
    R("photography.oct", r"\boptical coherence tomograph\w*", 2.8, "optical coherence"),
    R("photography.oct", r"\b(?:SD-?|SS-?|AS-?|IV-?)?OCT(?:A|-A)?\b", 2.2, "OCT", case=True,
      veto=r"compound|embedd|Tissue-?Tek|cryo|frozen|medium|blocks?\b|mounting|Sakura",
      veto_after=r"[-–]?\d", window=30),
    R("photography.oct", r"\bretinal thickness maps?|\bB-scans?\b", 1.0, "retinal thickness", "b-scan"),
    # ------------------------------------------------------------------ signals
    R("signals.ecg",
      r"\belectrocardiogra\w*|\b12-lead\b|\bHolter|\brhythm strips?|\bintracardiac electrogram",
      2.4,
      "electrocardiogra", "12-lead", "holter", "rhythm strip", "electrogram", family="signals.ecg:names"),
    R("signals.ecg", r"\bECGs?\b|\bEKGs?\b|\bST[- ]segment|\bST[- ]elevation|\bQRS\b", 2.4,
      "ECG", "EKG", "ST-", "ST ", "QRS", case=True, family="signals.ecg:names"),
    R("signals.eeg",
      r"\belectroencephalogra\w*|\belectrocorticogra\w*|\bpolysomnogra\w*|\bspike-and-wave|"
      r"\bmagnetoencephalogra\w*",
      2.4,
      "electroencephalogra", "electrocorticogra", "polysomnogra", "spike-and-wave", "magnetoencephalogra",
      family="signals.eeg:names"),
    R("signals.eeg", r"\bEEGs?\b|\biEEG\b|\bvEEG\b|\bsEEG\b|\bECoG\b|\bMEG\b", 2.4,
      "EEG", "ECoG", "MEG", case=True, family="signals.eeg:names"),
    R("signals",
      r"\belectromyogra\w*|\bevoked potentials?|\belectro-?oculogra\w*|\belectroretinogra\w*|"
      r"\bnerve conduction",
      2.0,
      "electromyogra", "evoked potential", "oculogra", "electroretinogra", "nerve conduction",
      family="signals:names"),
    R("signals", r"\bEMGs?\b|\bEOG\b|\bERG (?:recording|trace|response|waveform)s?", 2.0,
      "EMG", "EOG", "ERG", case=True, family="signals:names"),
    # ------------------------------------------------------------------ graphics: charts
    R("graphics.chart",
      r"\b(?:bar|line|pie|dot|box|violin|scatter|volcano|Manhattan|forest|funnel|waterfall|spider|"
      r"radar|Bland[-–]Altman|MA|density|contour|ternary|polar|strip|swarm|UpSet|Sankey|ridgeline|"
      r"Q-Q|QQ|Lineweaver[-–]Burk|Arrhenius|Tafel|Nyquist|Bode|Ramachandran|Euler distribution|"
      r"sashimi|circos)[- ]?(?:plots?|graphs?|charts?)|\bscatter-?plots?|\bbox-?plots?|"
      r"\bbar-?graphs?|\bhistograms?|\bheat[- ]?maps?|\bKaplan[-–—\s]+Meier|\bsurvival (?:curves?|"
      r"plots?|analys\w*|comparisons?|rates?|probabilit\w*)|\b(?:overall|progression[- ]free|disease[- ]free|"
      r"event[- ]free|recurrence[- ]free|relapse[- ]free|metastasis[- ]free|cumulative) survival|\breceiver operating|\bdose[-–\s]response|\b(?:growth|calibration|"
      r"standard|titration|binding|melting|dissociation|saturation|kill|survival|learning|"
      r"stress[-–]strain|polarization|rarefaction) curves?|\bt-SNE\b|\btSNE\b|\bprincipal component|"
      r"\bbifurcation diagram|\bphase diagram|\bdendrogram|\bcorrelation (?:plots?|"
      r"matri\w*|coefficients?)|\bregression (?:lines?|analys\w*|plots?)|\bpie charts?|"
      r"\bforest plot|\bgating strategy|\bflow cytometr\w*|\bcytometric|"
      r"\bfluorescence-activated cell sorting|\bmass cytometr\w*|\b(?:forward|side)[- ]scatter|"
      r"\bvoltammogra\w*|\bchromatogra(?:m|ms|phic profiles?)\b|\belectropherogra\w*",
      2.0,
      "plot", "graph", "chart", "histogram", "heat", "kaplan", "survival", "receiver", "response", "curve",
      "sne", "principal", "diagram", "dendrogram", "correlation", "regression", "gating", "cytometr",
      "fluorescence-activated", "scatter", "voltammogra", "chromatogra", "electropherogra",
      family="graphics.chart:types"),
    R("graphics.chart",
      r"\b(?:ROC|PCA|UMAP|FACS|AUC|PCoA|NMDS|GSEA|CyTOF)\b",
      2.0, "ROC", "PCA", "UMAP", "FACS", "AUC", "PCoA", "NMDS", "GSEA", "CyTOF", case=True,
      family="graphics.chart:types"),
    R("graphics.chart",
      r"\bplots?\b|\bplotted|\bgraphs?\b|\bgraphical representation|\bcharts?\b|\bcurves?\b|"
      r"\bspectr(?:um|a)\b|\btraces?\b|\bx-axis|\by-axis|\bordinate|\babscissa|\bvertical axis|"
      r"\bhorizontal axis|\blegend\b|\bcurvas?\b|\bgráfic[oa]s?\b|\bdiagrams? de barras",
      1.4,
      "plot", "graph", "chart", "curve", "spectr", "trace", "recording", "axis", "ordinate", "abscissa",
      "legend", "curva", "gráfic", "barras", family="graphics.chart:words"),
    R("graphics.chart",
      r"\bquantif\w*|\bquantitative analys\w*|\bdensitometr\w*|\bstatistical analys\w*|"
      r"\bfold[- ]changes?\b|\brelative (?:expression|levels?|mRNA|abundance|intensit\w*|activity)|"
      r"\bas a function of|\bnormali[sz]ed to|\btime[- ]to[- ]event|\btime to (?:first|progression|"
      r"recurrence|death|relapse|event|deterioration)|\bqRT-PCR|\bRT-qPCR|\bqPCR\b|"
      r"\breal-time (?:RT-)?PCR|\bELISA\b|\bluciferase (?:activity|reporter|assay)|\bviability|"
      r"\bsimulat\w*|\btime[- ]course|\bkinetics|\bover time|\b(?:adjusted )?odds ratios?|\badjusted odds|"
      r"\bhazard ratios?|\bconfidence intervals?|\b(?:\w+ )?contents? (?:of|in)\b",
      0.9,
      "quantif", "quantitative", "densitometr", "statistical", "fold", "relative", "function of", "time",
      "normali", "pcr", "elisa", "luciferase", "viability", "simulat", "time course", "time-course",
      "kinetics", "over time", "odds", "hazard", "confidence", "content", family="graphics.chart:quantities"),
    R("graphics.chart",
      r"\bpercentages? of|\bproportions?\b|\bfrequenc(?:y|ies)\b|\bdistributions? of|\bnumbers? of|"
      r"\bmean (?:values?|number|intensity|expression)|\bversus\b|\bvs\.?(?= )|\bratios?\b|"
      r"\brates?\b|\blevels?\b|\bconcentrations?\b|\bscores?\b|\bprofiles?\b|\bsignatures?\b|"
      r"\btrends?\b|\bamounts? of|\baverage\b|\bmedian\b|\bcomparison of|\bcorrelat\w*|"
      r"\bsummary statistics|\bresults?\b|\bresultados?\b|\bmeasurements?\b",
      0.4,
      "percentage", "proportion", "frequenc", "distribution", "number", "mean", "versus", "vs", "ratio",
      "rate", "level", "concentration", "score", "profile", "signature", "trend", "amount", "average",
      "median", "comparison", "correlat", "summary", "result", "measurement",
      family="graphics.chart:measures"),
    R("graphics.chart", r"±|\+/-", 0.35, "±", "+/-", family="graphics.chart:stats"),
    R("graphics.chart",
      r"\bp ?[<>=≤] ?0?[.,]\d",
      0.35, "p<", "p <", "p=", "p =", "p≤", "p>", "p >", family="graphics.chart:stats"),
    R("graphics.chart", r"\bn ?= ?\d", 0.35, "n=", "n =", family="graphics.chart:stats"),
    R("graphics.chart",
      r"\b(?:ANOVA|t-test|Student'?s t|Mann[-–]Whitney|Wilcoxon|chi-square|χ2|log-rank|Kruskal|"
      r"Tukey|Bonferroni|Dunnett|Sidak|Šidák|Fisher'?s exact|Holm)|\berror bars?|\bSEM\b|"
      r"\bs\.e\.m\.?|\bstandard (?:error|deviation)|\b95% CI|\bconfidence intervals?|"
      r"\binterquartile|\bwhiskers?",
      0.35,
      "s.e.m", family="graphics.chart:stats"),
    # charts named by what they plot (issue 14: audiograms, tracings and survival figures came out "other")
    R("graphics.chart",
      r"\baudiograms?\b|\b(?:original|representative) tracings?\b|\bdiffractograms?\b|\bdifratogramas?\b|"
      r"\b(?:overall|relapse[- ]free|disease[- ]free|progression[- ]free|event[- ]free|recurrence[- ]free|"
      r"metastasis[- ]free|cancer[- ]specific) survival\b|\b[XY] axis\b|\beixo\b|\btop \d+ "
      r"(?:most )?(?:significant|enriched|up-?regulated|down-?regulated|differentially)\b|\bjackknife\b|"
      r"\b(?:riqueza|abundância|frequência|porcentagem|média)s?\b",
      1.4,
      "audiogram", "tracing", "diffractogram", "difratograma", "survival", "axis", "eixo", "top",
      "jackknife", "riqueza", "abundância", "frequência", "porcentagem", "média", family="graphics.chart:named"),
    R("graphics.chart",
      r"\bX-ray (?:diffraction|photoelectron|absorption|scattering)|\bRaman\b|\bUV[-–]?vis\w*|"
      r"\babsorbance\b|\bmass spectr\w*|\bthermogravimetr\w*|\bcyclic voltammetry|\bimpedance|"
      r"\bI-V curves?|\bI–V curves?|\bI-t curves?|\bI–t curves?",
      1.6,
      "x-ray", "raman", "uv", "absorbance", "mass spectr", "thermogravimetr", "voltammetry", "impedance", "i-v",
      "i–v", "i-t", "i–t", family="graphics.chart:spectra"),
    R("graphics.chart",
      r"\bXRD\b|\bXPS\b|\bXANES\b|\bEXAFS\b|\bSAXS\b|\bFTIR\b|\bFT-IR\b|\bNMR\b|\b(?:1H|13C|2D)[- ]NMR|"
      r"\bMS/MS\b|\bMALDI|\bLC-MS|\bHPLC\b|\bEDX\w*\b|\bEDS\b|\bTGA\b|\bDSC\b|\bLSV\b",
      1.6,
      "XRD", "XPS", "XANES", "EXAFS", "SAXS", "FTIR", "FT-IR", "NMR", "MS/MS", "MALDI", "LC-MS", "HPLC", "EDX",
      "EDS", "TGA", "DSC", "LSV", case=True, family="graphics.chart:spectra"),
    R("graphics.chart",
      r"\b(?:EPSC|IPSC|EPSP|IPSP|mEPSC|mIPSC|sEPSC|sIPSC)s?\b|\bpatch[- ]clamp|\b(?:voltage|"
      r"current)[- ]clamp|\baction potentials?|\bspike (?:trains?|rasters?)|\braster plots?|"
      r"\bfiring rates?|\bwhole[- ]cell recordings?|\bfield potentials?|\bfEPSP|"
      r"\bcalcium (?:traces?|transients?)",
      1.2,
      "psc", "psp", "clamp", "action potential", "spike", "raster", "firing", "whole-cell", "whole cell",
      "field potential", "calcium", family="graphics.chart:ephys"),
    R("graphics.chart",
      r"\b(?:ChIP|RNA|ATAC|CUT&(?:RUN|Tag)|CUT-Tag|Hi-C)-?seq\w*|\bgenome browser|\b(?:coverage|"
      r"signal) tracks?|\bread (?:counts?|coverage)|\bdifferential(?:ly)? express\w*|\bGO (?:terms?|"
      r"enrichment)|\bgene ontology|\benrichment analys\w*|\bGSEA\b|\bmetaplots?",
      0.9,
      "seq", "genome browser", "track", "read count", "read coverage", "differential", "go ",
      "gene ontology", "enrichment", "gsea", "metaplot", family="graphics.chart:omics"),
    # ------------------------------------------------------------------ graphics: diagrams, flowcharts
    R("graphics.diagram",
      r"\bschemati\w*|\bschemas?\b|\bschemes?\b|\bdiagrams?\b|\bdiagrammatic|\billustrat\w*|"
      r"\bcartoons?\b|\bdrawings?\b|\bsketch\w*|\bartist'?s (?:impression|rendering)|\bBioRender|"
      r"\bgraphical abstract|\binfographic|\besquemas?\b|\bdiagramas?\b",
      2.0,
      "schem", "diagram", "illustrat", "cartoon", "drawing", "sketch", "artist", "biorender",
      "graphical abstract", "infographic", "esquema", "diagrama", family="graphics.diagram:words",
      veto=r"(?:bifurcation|phase|ribbon|flow|CONSORT|PRISMA|STARD|box|whisker|energy|Feynman|"
      r"Ramachandran|Hasse|Voronoi|ternary|Euler distribution)[- ]diagrams?|cartoon representation|"
      r"diagrams? de barras|schematic (?:of the )?(?:timeline|workflow)",
      window=18),
    R("graphics.diagram",
      r"\b(?:proposed|working|hypothetical|conceptual|mechanistic|simplified|schematic|cartoon|"
      r"putative|general|graphical|structural|current|final) models?\b|\bmodels? (?:of|"
      r"for) (?:the )?(?:mechanism|regulation|action|interaction|function|role|binding|assembly|"
      r"formation|signal\w*)|\bmechanisms? (?:of|by which|underlying|for)|\boverview of|"
      r"\bsummary of|\bsignal(?:l)?ing (?:pathways?|cascades?|networks?)|\bpathways? (?:of|involved|"
      r"leading|mediat\w*)|\bmodel for\b",
      1.1,
      "model", "mechanism", "overview", "summary", "signal", "pathway", family="graphics.diagram:models"),
    R("graphics.diagram",
      r"\bphylogen\w*|\b(?:phylogenetic|evolutionary|maximum[- ]likelihood|neighbou?r[- ]joining|"
      r"species|consensus|ML|Bayesian|gene) trees?\b|\bcladograms?|\bpedigrees?\b|\bfamily tree",
      1.8,
      "phylogen", "tree", "cladogram", "pedigree", family="graphics.diagram:trees"),
    R("graphics.diagram",
      r"\bmaps?\b|\bnetworks?\b|\bdomain (?:structure|organi[sz]ation|architecture)|\b(?:gene|locus|"
      r"construct|plasmid|vector|transgene) (?:structure|map|organi[sz]ation|design)s?|"
      r"\bconstructs?\b|\bstrategy (?:for|to|of|used)|\bstudy (?:area|site|design)|\blayout|"
      r"\bset-?up of|\btopolog\w*",
      0.8,
      "map", "network", "domain", "structure", "map", "construct", "design", "experimental", "strategy",
      "study", "layout", "set-up", "setup", "topolog", family="graphics.diagram:misc",
      veto=r"(?:heat|density|contact|intensity|EELS|ADC|parametric|perfusion|thickness|"
      r"self-organi[sz]ing|t-SNE|UMAP|synergy|cross-?link|saliency|attention|feature|activation|"
      r"elevation|color|colour|colou?r-coded)[- ]maps?|maps? (?:of|showing) (?:the )?(?:expression|"
      r"intensity|density|signal|activity)",
      window=25),
    # form before topic (issue 14): set diagrams, drawn networks and pathways, and maps are drawings,
    # whatever numbers they carry
    R("graphics.diagram",
      r"\bVenn(?:[- ]diagrams?)?\b|\bEuler diagrams?|\b(?:interaction|regulatory|co-?expression|gene|"
      r"protein|PPI|molecular|signal(?:l)?ing|correlation|metabolic|miRNA|ceRNA|mRNA|transcriptional|"
      r"association|knowledge|co-?occurrence|social|contact|food|haplotype) networks?\b|"
      r"\bnetwork (?:diagram|visuali[sz]ation|map|graph|representation)s?|\bCytoscape\b|\bPathVisio\b|"
      r"\bpathway (?:maps?|diagrams?|drawings?|figures?|visuali[sz]ation)|\bminimum spanning trees?|"
      r"\b(?:geographic(?:al)?|spatial) distribution|\bdistribution maps?|\bmaps? (?:of|showing) (?:the )?"
      r"(?:study|sampling|collection|location|area|region|distribution|sites?|world|countr|state|province)|"
      r"\bstudy (?:area|region|sites?)\b|\bsampling (?:sites?|locations?|points?|areas?)|\bhabitat "
      r"(?:suitability|distribution)|\bmapas?\b|\bcartes?\b",
      1.8,
      "venn", "euler", "network", "cytoscape", "pathvisio", "pathway", "spanning", "distribution", "map",
      "study", "sampling", "habitat", "mapa", "carte", family="graphics.diagram:forms"),
    R("graphics.diagram",
      r"\bexperimental (?:design|set-?up|scheme|strategy|approach|procedures?|paradigm|layout|"
      r"timeline|outline)|\bstudy design",
      1.6,
      "experimental", "study design"),
    R("graphics.flowchart",
      r"\bflow[- ]?charts?|\bflow diagrams?|\bCONSORT\b|\bPRISMA\b|\bSTARD\b|\bdecision (?:tree|"
      r"algorithm)|\b(?:patient|participant|study|screening|selection|enrol?lment|"
      r"recruitment) (?:flow|selection process|algorithm|disposition)|\b(?:patients?|participants?|subjects?) disposition|\bflow of (?:patients|participants|"
      r"the study)|\binclusion and exclusion|\bscreening process|\bworkflows?\b|\bwork-flows?\b|"
      r"\bpipelines?\b|\bstep-by-step|\bfluxograma|\bdiagrama de flujo",
      2.3,
      "flow", "consort", "prisma", "stard", "decision", "patient", "participant", "study", "screening",
      "selection", "enrol", "recruitment", "inclusion", "workflow", "work-flow", "pipeline", "step-by-step",
      "fluxograma"),
    # ------------------------------------------------------------------ graphics: other kinds
    R("graphics.table", r"\btables?\b|\btabular|\btabla\b|\btabela\b", 1.4, "table", "tabular", "tabla", "tabela",
      veto_after=r"\s*(?:S?\d|[IVX]+\b|\()",
      veto=r"(?:in|see|from|of|and|to|with|per|as in|listed in|shown in|given in|summari[sz]ed in)\s+"
      r"(?:the\s+)?tables?\b|table (?:top|salt|olive)|\d\s*tables?",
      window=22),
    R("graphics.chemical_structure",
      r"\bchemical structures?|\bstructural formula\w*|\bmolecular structures?|\bskeletal formula|"
      r"\bchemical formula|\bsynthe(?:tic|sis) (?:route|scheme|pathway)s?|\breaction schemes?|"
      r"\bchemical reactions?|\bstructures? of (?:the )?(?:compounds?|inhibitors?|ligands?|"
      r"molecules?|drugs?|derivatives?|analogu?es?|metabolites?|PROTACs?)|\bORTEP|\bSMILES\b|"
      r"\bestruturas? químicas?|\bestructuras? químicas?",
      2.5,
      "chemical", "structural formula", "molecular structure", "skeletal", "synthe", "reaction", "structure",
      "ortep", "smiles", "químic"),
    R("graphics.chemical_structure",
      r"\bcrystal structures?|\b(?:X-ray|NMR) structures?|\bribbon (?:diagrams?|representations?|"
      r"models?)|\bcartoon representations?|\bsurface representations?|\bstick (?:representations?|"
      r"models?)|\bPDB(?: ID| code| entry|:)?\b|\bdocking|\bbinding (?:mode|pose|pocket)s?|"
      r"\bhomology model\w*|\bmolecular dynamics|\b3D structures?|\bspin systems?",
      1.3,
      "crystal", "structure", "ribbon", "cartoon", "surface", "stick", "PDB", "docking", "binding",
      "homology", "molecular dynamics", "spin system"),
    R("graphics.chemical_structure",
      r"\bbonds?\b|\batoms?\b|\bfunctional groups?",
      0.5, "bond", "atom", "functional group",
      family="graphics.chemical_structure:words"),
    R("graphics.gel_blot",
      r"\bwestern[- ]?blot\w*|\bimmuno-?blot\w*|\bnorthern[- ]?blot\w*|\bsouthern[- ]?blot\w*|"
      r"\bdot[- ]?blot\w*|\bslot[- ]?blot\w*|\bSDS[-–]PAGE|\bnative PAGE|\bBN-PAGE|"
      r"\bgel electrophoresis|\bagarose gels?|\bpolyacrylamide gels?|\bCoomassie|\bEMSA\b|"
      r"\bgel[- ]shift|\belectrophoretic mobility|\bzymogra\w*|\bautoradiogra\w*|"
      r"\bthin[- ]layer chromatograph\w*|\bTLC\b|\bPhos-tag|\bfar-western",
      2.4,
      "blot", "page", "electrophoresis", "gel", "coomassie", "emsa", "shift", "electrophoretic", "zymogra",
      "autoradiogra", "chromatograph", "tlc", "phos-tag"),
    R("graphics.gel_blot",
      r"\b(?:IB|WB)\b|\bblots?\b|\bimmuno-?precipitat\w*|\bco-?IP\b|\bpull-?downs?\b|"
      r"\bprobed (?:with|for)|\bloading controls?|\blanes?\b|\bbands?\b|\bkDa\b|\bgels?\b|"
      r"\bPCR products?|\bDNA ladder|\bsize markers?|\bRT-PCR\b|\belectrophoresis|\bMSP\b|\bin-gel",
      1.0,
      "IB", "WB", "blot", "precipitat", "co-ip", "coip", "pull", "probed", "loading control", "lane", "band",
      "kda", "gel", "pcr product", "ladder", "size marker", "rt-pcr", "electrophoresis", "MSP", case=False,
      family="graphics.gel_blot:words",
      veto=r"collagen gels?|hydrogels?|gel surface|gel matrix|matrigel|gels? (?:were|was) (?:cast|"
      r"polymeri)|frequency bands?|\bband(?:width|pass)|wave ?bands?|qRT-PCR|real-time|"
      r"capillary electrophoresis|RT-qPCR|prediction bands?|confidence bands?|error bands?|"
      r"germ ?bands?|band gap|energy bands?", window=20),
    R("graphics.sequence",
      r"\bsequence alignments?|\b(?:multiple|pairwise) (?:sequence )?alignments?|"
      r"\balignments? of (?:the )?(?:\w+ ){0,3}(?:sequences?|proteins?|domains?|regions?|residues?|"
      r"motifs?|orthologs?|homologs?)|\baligned sequences|\bsequence logos?|\bWebLogo|"
      r"\bmotif logos?|\bconsensus (?:sequences?|motifs?|strings?)|\bsequencing chromatogra\w*|"
      r"\bSanger (?:sequencing|traces?|chromatogra\w*)|\bsequence traces?",
      2.3,
      "alignment", "aligned", "logo", "consensus", "sequencing chromatogra", "sanger", "sequence trace"),
    R("graphics.sequence",
      r"\b(?:amino[- ]acid|nucleotide|DNA|RNA|protein|peptide|cDNA|genomic|coding|reference|"
      r"wild[- ]type|mutant|target|primer|promoter) sequences?\b|\b(?:conserved|identical|"
      r"similar) residues|\bbinding motifs?|\bsecondary structure|\bstem[- ]loop",
      1.0,
      "sequence", "residues", "motif", "secondary structure", "stem-loop", "stem loop",
      family="graphics.sequence:words"),
    R("graphics.screenshot",
      r"\bscreen[- ]?shots?|\bscreen (?:captures?|grabs?)|\buser interfaces?|\bGUI\b|"
      r"\bweb ?(?:pages?|sites?|interfaces?|servers?|portals?|applications?|browsers?)|"
      r"\bHTML (?:pages?|view)|\bsoftware (?:interfaces?|windows?|screens?)|\bdashboards?|"
      r"\bapp (?:interface|screens?)|\bscreen of the|\bmenu\b|\bbrowser window|\bhome ?page|"
      r"\bcaptura de (?:pantalla|tela)",
      2.2,
      "screen", "interface", "GUI", "web", "html", "software", "dashboard", "app ", "menu", "browser",
      "homepage", "home page", "captura", case=False),
)

# Synonyms of the shared vocabulary (captions/vocab/modality/modality_synonyms.csv) that no rule
# matches, on purpose, with the reason. tests/test_modality.py checks that every other synonym is
# matched by a rule of its own modality group (or is listed in REMAPPED_SYNONYMS).
UNUSED_SYNONYMS: dict[str, str] = {
    "volume rendering": "CT, MRI, EM and confocal stacks all have them",
    "3D reconstruction": "CT, MRI, EM and confocal stacks all have them",
    "BOLD": "a word in upper-case titles; fMRI and MRI are matched",
    "MRS": "MR spectroscopy figures are spectra, not images",
    "LGE": "rare abbreviation; 'gadolinium' is matched",
    "gradient echo": "sequence names; MR wording around them is matched",
    "spin echo": "sequence names; MR wording around them is matched",
    "AP view": "radiographs, photographs, drawings and micrographs all have views",
    "PA view": "radiographs, photographs, drawings and micrographs all have views",
    "lateral view": "radiographs, photographs, drawings and micrographs all have views",
    "skyline view": "radiographs, photographs, drawings and micrographs all have views",
    "OPG": "also osteoprotegerin, far more common in biomedical captions",
    "TVUS": "rare abbreviation; 'transvaginal ultrasound' is matched",
    "echo": "an ordinary English word; echocardiography is matched",
    "FA": "fatty acid, fractional anisotropy, focal adhesion… far more often than fluorescein angiography",
    "MIP": "maximum intensity projections are made of PET, CT, MR angiography and confocal stacks",
    "MPI": "also myeloperoxidase index, message passing interface…",
    "MAG3": "a radiopharmaceutical name, not an image",
    "DTPA": "a chelator used far beyond scintigraphy",
    "FFDM": "rare abbreviation; mammography wording is matched",
    "DBT": "also dialectical behaviour therapy; tomosynthesis is matched",
    "CC view": "too short to be safe",
    "MLO view": "rare; 'mediolateral oblique' is matched",
    "spot compression view": "rare; mammography wording is matched",
    "scale bar": "matched only with its unit: nm → electron microscopy, µm → microscopy, mm/cm → photograph",
    "biopsy specimen": "biopsies are shown as micrographs, photographs and scans",
    "PAS": "matched only next to staining words (also 'PAS domain', 'PAS' as a protein)",
    "WSI": "rare abbreviation; 'whole-slide image' is matched",
    "P wave": "too short to be safe",
    "telemetry": "rarely an ECG figure",
    "electrophysiology study": "usually charts of intracardiac signals; not distinctive",
    "PSG": "rare abbreviation; 'polysomnography' is matched",
    "PAGE": "matched as SDS-PAGE / native PAGE only; bare 'PAGE' is usually a page",
    "GAPDH": "a blot loading control and a qPCR reference gene: evidence for neither",
    "beta-actin": "a blot loading control and a qPCR reference gene: evidence for neither",
    "β-actin": "a blot loading control and a qPCR reference gene: evidence for neither",
    "cytometry": "matched as 'flow cytometry' / 'mass cytometry' / 'cytometric'",
    "gated": "ordinary word",
    "annexin V": "an assay reagent, shown as flow plots or as micrographs",
    "propidium iodide": "an assay dye, shown as flow plots or as micrographs",
    "CFSE": "an assay dye, shown as flow plots or as micrographs",
    "MFI": "a quantity (mean fluorescence intensity), not a figure kind",
    "FSC": "also Fourier shell correlation (cryo-EM)",
    "SSC": "ambiguous abbreviation",
    "2D structure": "rare",
    "protein structure": "too general ('protein structure and function')",
    "model": "too general: mathematical, animal and statistical models; 'proposed/working model' is matched",
    "timeline": "timelines are diagrams or charts; 'experimental timeline' is matched",
    "pathway": "matched only as 'signalling pathway' / 'pathway of'",
    "mechanism": "matched only as 'mechanism of / underlying'",
    "overview": "matched only as 'overview of'",
    "architecture": "also tissue architecture in histology",
    "conceptual framework": "rare",
}

# Synonyms matched by a rule of another code than their vocabulary key suggests, and why.
REMAPPED_SYNONYMS: dict[str, str] = {
    "fluorescein angiography": "ophthalmic angiography is read from fundus images: photography.fundus",
    "ICGA": "ophthalmic angiography is read from fundus images: photography.fundus",
    "indocyanine green angiography": "ophthalmic angiography is read from fundus images: photography.fundus",
    "maximum intensity projection": "most often a confocal z-projection in PMC captions",
    "magnification view": "counted as a microscopy magnification hint",
    "PI staining": "staining wording is a microscopy hint; flow plots are matched by their own words",
    "mean fluorescence intensity": "fluorescence wording; the chart is matched by plot words",
}


# A negation right before the phrase ("no CT", "without DAPI", "than MRI"), or a contrast anywhere
# earlier in its clause ("unlike MRI, …", "compared with CT").
_NEGATED = re.compile(
    r"\b(?:no|not|non|without|neither|nor|except|excluding|lacking|absence of|lack of|instead of|"
    r"rather than|than|unlike|versus|vs\.?|as opposed to)\W+(?:\w+\W+)?$"
    r"|\b(?:unlike|compared (?:with|to)|in comparison (?:with|to)|in contrast (?:to|with)|as opposed to|"
    r"superior to|inferior to|better than|worse than|instead of|rather than|prior to|before)\b[^,;:.]*$",
    re.IGNORECASE,
)


def is_negated(text: str, start: int) -> bool:
    """True when the phrase at ``start`` is negated or contrasted within its clause ("no CT",
    "without DAPI", "unlike MRI", "compared with CT"); the clause ends at . ; : , ! or ?."""
    lo = max(0, start - 45)
    pre = text[lo:start]
    cut = max(pre.rfind("."), pre.rfind(";"), pre.rfind(":"), pre.rfind(","), pre.rfind("!"), pre.rfind("?"))
    if cut >= 0:
        pre = pre[cut + 1 :]
    return _NEGATED.search(pre) is not None


def _index() -> tuple[dict[str, list[int]], list[int], list[tuple[Rule, _Branch]]]:
    """Gate → branch numbers, the branches without a gate, and (rule, branch) by number."""
    gated: dict[str, list[int]] = {}
    ungated: list[int] = []
    flat: list[tuple[Rule, _Branch]] = []
    for rule in RULES:
        for br in rule.branches:
            k = len(flat)
            flat.append((rule, br))
            if br.gates:
                for g in br.gates:
                    gated.setdefault(g, []).append(k)
            else:
                ungated.append(k)
    return gated, ungated, flat


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def find_hits(text: str, low: str | None = None) -> list[Hit]:
    """Every rule match in ``text``; ``low`` is ``text.lower()`` when the caller has it already."""
    if low is None:
        low = text.lower()
    n = len(text)
    same_length = len(low) == n
    toks = set(_GATE_TOKEN.findall(low))
    prefixes = {t[:2] for t in toks}
    prefixes.update([t[:3] for t in toks])
    prefixes.update([t[:4] for t in toks])
    candidates: set[int] = set()
    for key in prefixes & _GATE_KEYS:
        candidates.update(_GATED[key])
    # Substring tests on UTF-8 bytes: much faster than on str when the text has non-Latin-1
    # characters (µ, –, ′ …), which most captions do.
    low_b = low.encode("utf-8")
    text_b = text.encode("utf-8") if text != low else low_b
    for k, case, subs in _UNGATED_SUBS:
        hay_b = text_b if case else low_b
        for sub in subs:
            if sub in hay_b:
                candidates.add(k)
                break
    hits: list[Hit] = []
    for k in sorted(candidates):
        rule, br = _FLAT[k]
        if rule.case:
            hay, rx = text, br.regex
        elif same_length:
            hay, rx = low, br.regex
        else:
            hay, rx = text, br.regex_ci
        w = rule.window
        pos = 0
        while True:
            m = rx.search(hay, pos)  # type: ignore[union-attr]
            if m is None:
                break
            s, e = m.span()
            pos = e if e > s else e + 1
            if br.word_start and s > 0 and _is_word_char(hay[s - 1]):
                pos = s + 1
                continue
            if rule.veto_after_re is not None and rule.veto_after_re.match(text, e, min(n, e + w)):
                continue
            if rule.require_re is not None or rule.veto_re is not None:
                ctx = text[max(0, s - w) : min(n, e + w)]
                if rule.require_re is not None and not rule.require_re.search(ctx):
                    continue
                if rule.veto_re is not None and rule.veto_re.search(ctx):
                    continue
            hits.append(Hit(rule, s, e, text[s:e], is_negated(text, s)))
    return hits


_GATED, _UNGATED, _FLAT = _index()
_GATE_KEYS = frozenset(_GATED)
_UNGATED_SUBS = tuple((k, _FLAT[k][0].case, _FLAT[k][1].subs) for k in _UNGATED)
