"""Texts int8 calibrates on, kept apart from the texts the fidelity gate judges.

The quantiser measures activation ranges on these texts (which channels to balance or split,
and whether the result holds before the gate); the gate then checks the result on
`REFERENCE_TEXTS` (or the user's `--validation-texts`), which calibration never saw, so passing
the gate is not a matter of fitting its texts. Users with a domain of their own pass their own
file (`--calibration-texts`, one text per line or JSON lines).

Everyday questions, news, reviews, support tickets, technical and scientific prose, a few
other languages, and paragraphs long enough to fill a 128- to 256-token window.

Example:
    >>> len(CALIBRATION_TEXTS) >= 48
    True
    >>> from encoder_triton.export.fidelity.texts import REFERENCE_TEXTS
    >>> set(CALIBRATION_TEXTS) & set(REFERENCE_TEXTS)
    set()
"""

from __future__ import annotations

from pathlib import Path

from encoder_triton.export.user_texts import read_texts

_PARAGRAPHS = (
    "The council approved the new budget late on Thursday after a six-hour session. Spending on "
    "roads and public transport rises by eight percent, while the library service keeps its "
    "funding flat for the third year in a row. Opposition members argued that the increase in "
    "parking fees would hurt small shops in the town centre, and several residents spoke against "
    "the plan during the public comment period.",
    "To configure the service, copy the example file to config.yaml and set the database URL, the "
    "number of worker processes and the log level. Restart the daemon afterwards. If the health "
    "check still fails, look at the last lines of the log: most start-up errors are a wrong "
    "password or a port that another program already uses.",
    "Researchers measured the growth of seedlings under three light regimes over twelve weeks. "
    "Plants that received blue-enriched light were shorter but had thicker stems and more leaves, "
    "and their dry mass was on average fourteen percent higher than under white light. The authors "
    "caution that the experiment used a single cultivar and a small greenhouse.",
    "I bought this blender to make smoothies every morning. It crushes ice without trouble and the "
    "jar is easy to clean, but it is very loud and the lid started to crack after two months. "
    "Customer service sent a replacement quickly, so I am giving it four stars instead of three.",
    "The match turned in the second half when the visitors scored twice in five minutes. Their "
    "coach had switched to a back three at half-time, and the extra midfielder gave them control "
    "of the ball. The home side pushed for an equaliser until the final whistle but created few "
    "real chances, and their captain was sent off in stoppage time.",
    "Patients with type 2 diabetes who took part in the programme walked for thirty minutes after "
    "each meal. After six months, their average blood glucose had fallen and most of them needed "
    "a lower dose of medication. The study did not include a control group, so the effect of the "
    "walking cannot be separated from other changes in diet and care.",
    "Our quarterly revenue grew to 4.2 million dollars, up eleven percent on the same period last "
    "year, driven by subscriptions in Europe and a strong launch in Brazil. Operating costs rose "
    "faster than planned because of hiring in support and engineering. We expect margins to "
    "recover in the second half as the new data centre comes online.",
    "The old bridge over the river was built in 1887 from local stone and carried horse-drawn carts "
    "for decades before the first motor cars arrived. Engineers inspected it last spring and found "
    "that two of the arches had shifted, so heavy vehicles are now diverted through the industrial "
    "estate until the repairs are finished, probably next autumn.",
)

CALIBRATION_TEXTS: tuple[str, ...] = (
    "where is the nearest pharmacy open on sunday",
    "cheap flights from madrid to lisbon in may",
    "How long should I boil an egg for a soft yolk?",
    "My order arrived damaged and I would like a refund.",
    "The printer shows error E-04 and will not feed paper.",
    "Can I change the delivery address after the order has shipped?",
    "Two people were injured when a bus collided with a van on the ring road this morning.",
    "The central bank left interest rates unchanged but signalled a cut later in the year.",
    "Scientists have discovered a new species of frog in the rainforest of northern Peru.",
    "The film is beautifully shot, but the story drags in the middle and the ending feels rushed.",
    "Great battery life, the screen is sharp and bright even outdoors.",
    "Terrible experience: the hotel room was dirty and the staff ignored our complaints.",
    "A dog is running across a field with a stick in its mouth.",
    "Two children are playing chess at a wooden table in the park.",
    "A woman is slicing tomatoes in a small kitchen.",
    "The train to Glasgow is delayed by forty minutes due to a signal failure.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The mitochondrion is the organelle where most cellular respiration takes place.",
    "In 1969, Apollo 11 landed the first humans on the Moon.",
    "Water expands when it freezes, which is why pipes can burst in winter.",
    "SELECT name, price FROM products WHERE price > 100 ORDER BY price DESC;",
    "for i in range(10): print(i ** 2)",
    "The function returns None when the key is missing instead of raising KeyError.",
    "Use a virtual environment so that project dependencies do not clash.",
    "Invoice INV-2023-0481 is overdue by 14 days; the amount due is EUR 2,340.50.",
    "Meeting moved to 3:30 pm on Friday, room B-204.",
    "Temperatures will drop below freezing overnight, with snow on higher ground.",
    "The museum is closed on Mondays and public holidays.",
    "Ich möchte einen Tisch für vier Personen um acht Uhr reservieren.",
    "La réunion a été reportée à la semaine prochaine.",
    "¿Dónde está la estación de tren más cercana?",
    "Il treno per Roma parte dal binario sette.",
    "Hoje o tempo está ensolarado e quente.",
    "De winkel is op zondag gesloten.",
    "北京是中国的首都。",
    "今日はとても暑いですね。",
    "Сегодня в Москве идёт снег.",
    "The committee will publish its final report in March.",
    "She finished the marathon in just under four hours despite the heat.",
    "He forgot his umbrella and got soaked on the way to work.",
    "The recipe calls for two cups of flour, one egg and a pinch of salt.",
    "Please restart your router and try connecting again.",
    "The app crashes every time I try to upload a photo larger than 10 MB.",
    "Vaccination rates among teenagers rose sharply after the school campaign.",
    "Wind turbines produced more electricity than coal plants for the first time last year.",
    "The company recalled 40,000 cars over a faulty brake sensor.",
    "thanks!!! works perfectly now :)",
    "ok",
    "Is it safe to take ibuprofen with coffee?",
    "What is the difference between a virus and a bacterium?",
    "Summarise the main arguments of the article in three sentences.",
    "The defendant pleaded not guilty to all charges.",
    "Rainfall in the region was forty percent below the long-term average.",
    "Our team is hiring a senior backend engineer with experience in distributed systems.",
    "The sunset over the harbour turned the sky orange and pink.",
    "Add the onions and cook until soft, about five minutes, stirring occasionally.",
    *_PARAGRAPHS,
)


def load_calibration_texts(path: Path | None) -> tuple[str, ...]:
    """The texts of `path` (one per line, or JSON lines with a "text"; see export/user_texts.py),
    or the built-in texts when `path` is None."""
    if path is None:
        return CALIBRATION_TEXTS
    return read_texts(path, minimum=8, purpose="calibration").texts
