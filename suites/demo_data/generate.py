#!/usr/bin/env python3
"""Generate the Lumen City Transit (LCT) demo data for harness.

LCT is a fictional city transit operator, so a small model cannot know its facts: retrieval (RAG)
has to find them in the knowledge base, and fine-tuning can teach the strict answer format.

One fact base (the constants and `build_facts()` below) drives every file:

  golden_sets/transit_support.jsonl   held-out golden set, instruction format (80 examples)
  golden_sets/general_guard.jsonl     easy general questions, chat format (30 examples)
  suites/demo_data/train.jsonl        adapter training set, chat format (400 examples)
  suites/demo_data/knowledge/*.md     help-centre pages for RAG

Every fact carries separate question phrasings for the golden set and for training, so the two
sets never share a question; `check_disjoint()` asserts it (exact match after normalisation, and
no near-duplicates by token Jaccard). Standard library only, seeded: running this script again
rewrites every file byte-identically.

    python suites/demo_data/generate.py
"""

from __future__ import annotations

import json
import random
import re
import string
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GOLDEN_DIR = REPO / "golden_sets"
KNOWLEDGE_DIR = HERE / "knowledge"

TOPICS = [
    "fares",
    "passes",
    "schedules",
    "routes",
    "accessibility",
    "bikes",
    "lost_and_found",
    "refunds",
    "pets_luggage",
    "night_service",
]
GOLDEN_PER_TOPIC = 8
GOLDEN_HARD_PER_TOPIC = 3
TRAIN_PER_TOPIC = 40
GUARD_SIZE = 30
MAX_ANSWER_WORDS = 30
# The brief asks that no training question be a near-duplicate (token Jaccard >= 0.9) of a golden
# question; we hold the data to a stricter bound.
NEAR_DUP_JACCARD = 0.8

# --------------------------------------------------------------------------------------------
# The fact base
# --------------------------------------------------------------------------------------------

OPERATOR = "Lumen City Transit"
PEAK_HOURS = "07:00 to 09:30 and 16:30 to 19:00"
ASSIST_PHONE = "555-0140"
ASSIST_NOTICE_HOURS = 2
SUNDAY_DELAY_HOURS = 1


def cr(cents: int) -> str:
    """Render an amount of money, held in hundredths of a credit: 240 -> '2.40 credits'."""
    if cents == 100:
        return "1 credit"
    if cents % 100 == 0:
        return f"{cents // 100} credits"
    return f"{cents // 100}.{cents % 100:02d} credits"


# Fares, in hundredths of a credit.
ADULT = 240  # single fare with a Glow card or contactless
ADULT_PAPER = 300
CHILD = 120  # ages 5 to 15
SENIOR = 110  # 65 and over, with a Senior Glow card
STUDENT = 180  # with a Student Glow card
AIRPORT_SUPPLEMENT = 150
MAX_FARE = 480  # charged when a metro journey is not tapped out
TRANSFER_MINUTES = 90
FREE_UNDER = 5
FREE_CHILDREN_PER_ADULT = 3
DAY_PASS_ADULT = 750
DAY_PASS_CHILD = 375
MONTHLY_ADULT = 6800
MONTHLY_CHILD = 3400
MONTHLY_SENIOR = 2500
CARD_FEE = 500
MIN_TOPUP = 500
MAX_BALANCE = 15000
REPLACEMENT_FEE = 500
CASH_OUT_LIMIT = 5000

# Lost property.
LPO_WEEKDAYS = "Monday to Friday 09:00 to 17:00"
LPO_SATURDAY = "Saturday 10:00 to 14:00"
LPO_KEEP_DAYS = 30
LPO_ID_DAYS = 7
LPO_FEE = 200
LPO_POST_FEE = 600

# Refunds.
DELAY_HALF_MIN = 15
DELAY_FULL_MIN = 30
DELAY_CLAIM_DAYS = 28
DELAY_PASS_CREDIT = 120
PASS_REFUND_FEE = 500
DAY_PASS_REFUND_DAYS = 30
TAP_CORRECTION_DAYS = 7

# Bikes, pets and luggage.
BIKES_PER_TRAIN = 4
BIKE_LOCKER = 100  # per day
BIKE_LOCKER_STATIONS = ("Central Exchange", "Harbourgate", "Riverside")
DOGS_PER_PASSENGER = 2
SUITCASES = 2
MAX_ITEM_METRES = 2

# Night service.
NIGHT_START = "00:30"
NIGHT_END = "05:00"
NIGHT_WEEKEND_MIN = 20
NIGHT_WEEKDAY_MIN = 40
ALL_NIGHTER_MIN = 20
SAFE_STOP_AFTER = "22:00"
DAY_PASS_UNTIL = "04:00"


@dataclass(frozen=True)
class Line:
    name: str
    mode: str  # "metro", "tram", "bus", "express bus"
    vehicle: str  # what a rider boards: "train", "tram", "bus"
    colour: str  # colour on the network map
    stations: tuple[str, ...]  # in order, first and last are the terminals
    first: str  # first departures from both terminals, Monday to Saturday
    last: str  # last departures from both terminals
    peak_every: int  # minutes between departures at peak times
    offpeak_every: int  # minutes between departures off-peak
    minutes: int  # end-to-end journey time

    @property
    def a_mode(self) -> str:
        return ("an " if self.mode[0] in "aeiou" else "a ") + self.mode

    @property
    def vehicles(self) -> str:
        return self.vehicle + ("es" if self.vehicle.endswith("s") else "s")

    @property
    def ends(self) -> tuple[str, str]:
        return self.stations[0], self.stations[-1]


LINES = [
    Line(
        "Amber Line", "metro", "train", "amber",
        ("Harbourgate", "Dockside", "Central Exchange", "Mercer Street", "Northfield Park"),
        "05:30", "00:15", 5, 10, 22,
    ),
    Line(
        "Cobalt Line", "metro", "train", "blue",
        ("Lumen Airport", "Beacon Road", "Central Exchange", "Old Mill Square"),
        "05:00", "23:45", 8, 8, 26,
    ),
    Line(
        "Jade Line", "metro", "train", "green",
        ("Riverside", "Old Mill Square", "Tannery Lane", "Quarry Hill"),
        "05:45", "23:30", 6, 12, 19,
    ),
    Line(
        "Violet Line", "tram", "tram", "purple",
        ("Cathedral Steps", "Harbourgate", "Glassworks", "Saltmarsh"),
        "06:00", "23:00", 7, 7, 24,
    ),
    Line(
        "Crimson Line", "bus", "bus", "red",
        ("Central Exchange", "Fennel Market", "Eastbrook Hospital"),
        "05:15", "00:30", 10, 15, 20,
    ),
    Line(
        "Silver Line", "express bus", "bus", "silver",
        ("Central Exchange", "Lakeshore Campus"),
        "06:00", "22:00", 15, 15, 25,
    ),
]  # fmt: skip
LINE = {line.name: line for line in LINES}
SILVER_DAYS = "Monday to Saturday"

# Metro stations without step-free access; every other metro station, every tram stop and every
# bus stop is step-free.
NOT_STEP_FREE = ("Dockside", "Mercer Street", "Tannery Lane")
METRO_STATIONS: list[str] = []
for _line in LINES:
    if _line.mode == "metro":
        METRO_STATIONS += [s for s in _line.stations if s not in METRO_STATIONS]

NIGHT_BUSES = [
    ("N1", "Harbourgate", "Northfield Park"),
    ("N2", "Central Exchange", "Lumen Airport"),
    ("N3", "Central Exchange", "Eastbrook Hospital"),
]


def lines_at(station: str) -> list[Line]:
    return [line for line in LINES if station in line.stations]


def step_free_neighbours(station: str) -> list[str]:
    """The nearest step-free stations either side of `station` on its metro line."""
    line = next(line for line in LINES if line.mode == "metro" and station in line.stations)
    i = line.stations.index(station)
    return [s for s in (line.stations[i - 1], line.stations[i + 1]) if s not in NOT_STEP_FREE]


def one_change_route(origin: str, dest: str) -> tuple[Line, str, Line]:
    """The first (line, interchange, line) route from origin to dest with exactly one change."""
    for first in lines_at(origin):
        for second in lines_at(dest):
            if first is second:
                continue
            for station in first.stations:
                if station in second.stations and station not in (origin, dest):
                    return first, station, second
    raise AssertionError(f"no one-change route from {origin} to {dest}")


def add_minutes(hhmm: str, hours: int) -> str:
    h, m = (int(x) for x in hhmm.split(":"))
    return f"{(h + hours) % 24:02d}:{m:02d}"


def every_text(line: Line) -> str:
    if line.peak_every == line.offpeak_every:
        return f"every {line.peak_every} minutes all day"
    return (
        f"every {line.peak_every} minutes at peak times and every "
        f"{line.offpeak_every} minutes off-peak"
    )


# --------------------------------------------------------------------------------------------
# Facts: an answer plus disjoint pools of question phrasings for the golden set and for training
# --------------------------------------------------------------------------------------------

Question = str | tuple[str, str]  # a question, or (instruction, input) for the golden set


@dataclass
class Fact:
    topic: str
    answer: str
    golden: list[Question] = field(default_factory=list)  # plain phrasings -> "easy"
    golden_hard: list[Question] = field(default_factory=list)  # unusual phrasings -> "hard"
    train: list[str] = field(default_factory=list)  # training phrasings, never in the golden set
    combines: bool = False  # needs two facts together: every golden use is "hard"
    derived: bool = False  # the answer computes a number that the knowledge base does not state


def fill(templates: list[str], **values: str) -> list[str]:
    return [t.format(**values) for t in templates]


def fares_facts() -> list[Fact]:
    t = "fares"
    facts = [
        Fact(
            t,
            f"An adult single fare is {cr(ADULT)} with a Glow card or contactless, or "
            f"{cr(ADULT_PAPER)} for a paper ticket.",
            golden=["How much is a single adult fare?", "What does one journey cost for an adult?"],
            train=[
                "Price of an adult single ticket?",
                "How much do I pay for one ride as an adult?",
                "whats the standard fare",
                "Adult ticket price for a single trip?",
                "How much is a one-way trip for a grown-up?",
            ],
        ),
        Fact(
            t,
            f"Children aged 5 to 15 pay {cr(CHILD)} per single journey, and children under "
            f"{FREE_UNDER} travel free.",
            golden=["How much is a child fare?"],
            train=[
                "What do kids pay?",
                "Child ticket cost?",
                "how much for my son, he's 12",
                "Do children get cheaper tickets?",
            ],
        ),
        Fact(
            t,
            f"Children under {FREE_UNDER} travel free with a paying adult, up to "
            f"{FREE_CHILDREN_PER_ADULT} children per adult.",
            golden=["Does my toddler need a ticket?"],
            golden_hard=["do i hav to pay for my 2yr old or nah"],
            train=[
                "Do babies travel free?",
                "is there a fare for a 3 year old?",
                "Do under-fives pay?",
                "My daughter is 4, does she need a ticket?",
            ],
        ),
        Fact(
            t,
            f"Passengers aged 65 and over pay {cr(SENIOR)} per single journey with a Senior "
            "Glow card.",
            golden=["Is there a discount for seniors?"],
            golden_hard=[
                (
                    "How much is one trip for me if I pay with my card?",
                    "Customer profile: Senior Glow card holder, age 72.",
                )
            ],
            train=[
                "What's the fare for pensioners?",
                "How much do over-65s pay?",
                "senior citizen ticket price?",
                "I'm 67, do I get a cheaper fare?",
            ],
        ),
        Fact(
            t,
            f"Full-time students pay {cr(STUDENT)} per single journey with a Student Glow card.",
            golden=["Do students get a reduced fare?"],
            train=[
                "student fare?",
                "How much is a ticket for university students?",
                "Is there a student discount on LCT?",
                "college student here, what do I pay per trip?",
            ],
        ),
        Fact(
            t,
            f"A single fare lets you change between any lines for {TRANSFER_MINUTES} minutes "
            "from your first tap.",
            golden=["Can I change lines on one ticket?", "How long is a single ticket valid?"],
            train=[
                "Do I pay again when I switch from the metro to a bus?",
                "is a transfer free",
                "How long can I use a single fare for?",
                "Does my fare cover a change of line?",
            ],
        ),
        Fact(
            t,
            f"Journeys to or from Lumen Airport station cost an extra {cr(AIRPORT_SUPPLEMENT)} "
            f"on top of any fare or pass; children under {FREE_UNDER} are exempt.",
            golden=["Is there an extra charge for the airport?"],
            train=[
                "Why did I pay more at the airport station?",
                "airport surcharge?",
                "Does the airport cost extra on the Cobalt Line?",
                "What's the airport supplement?",
            ],
        ),
        Fact(
            t,
            "Buses do not accept cash; pay with a Glow card or a contactless bank card or phone.",
            golden=["Can I pay cash on the bus?"],
            train=[
                "Do drivers take cash?",
                "can i buy a ticket with coins on the bus",
                "Is cash accepted on Crimson Line buses?",
                "How do I pay on the bus?",
            ],
        ),
        Fact(
            t,
            "Yes, you can tap a contactless bank card or phone; it costs the same as a Glow card, "
            f"{cr(ADULT)} for an adult single.",
            golden=["Can I use my bank card to pay?"],
            train=[
                "Does LCT accept contactless?",
                "Can I pay with my phone?",
                "can i tap my debit card at the gates",
                "Is contactless more expensive than a Glow card?",
            ],
        ),
        Fact(
            t,
            f"Paper single tickets cost {cr(ADULT_PAPER)} and are sold at the ticket machines in "
            "every metro station.",
            golden=["Where can I buy a paper ticket?"],
            train=[
                "Do you sell paper tickets?",
                "where are the ticket machines",
                "paper ticket price?",
            ],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            f"An adult pays {cr(ADULT)} and a child aged 8 pays {cr(CHILD)}, so "
            f"{cr(ADULT + CHILD)} in total with Glow cards.",
            golden=["What will it cost me and my 8-year-old for one trip with Glow cards?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"You pay the senior fare of {cr(SENIOR)} plus the airport supplement of "
            f"{cr(AIRPORT_SUPPLEMENT)}, so {cr(SENIOR + AIRPORT_SUPPLEMENT)}.",
            golden=["I'm 70 with a Senior Glow card - what does a ride to Lumen Airport cost me?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"You save {cr(ADULT_PAPER - ADULT)} per adult journey: {cr(ADULT)} with a Glow card "
            f"versus {cr(ADULT_PAPER)} for a paper ticket.",
            golden=["How much do I save per trip by using a Glow card instead of a paper ticket?"],
            combines=True,
            derived=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            f"An adult fare of {cr(ADULT)} plus the airport supplement of "
            f"{cr(AIRPORT_SUPPLEMENT)} makes {cr(ADULT + AIRPORT_SUPPLEMENT)} with a Glow card.",
            train=[
                "How much is it to get to Lumen Airport as an adult with a Glow card?",
                "adult fare to the airport incl. supplement?",
            ],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"Two adult singles cost {cr(2 * ADULT)} with Glow cards or contactless.",
            train=[
                "How much for two adults, one way, with Glow cards?",
                "me and my wife, single trip, price?",
            ],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"A child pays {cr(CHILD)} plus the airport supplement of {cr(AIRPORT_SUPPLEMENT)}, so "
            f"{cr(CHILD + AIRPORT_SUPPLEMENT)}.",
            train=["What does my 10-year-old pay to ride to the airport?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"Only the adult pays: {cr(ADULT)} with a Glow card, because children under "
            f"{FREE_UNDER} travel free.",
            train=["Single fare for me and my 3-year-old with a Glow card?"],
            combines=True,
        ),
        Fact(
            t,
            f"With a paper ticket an adult pays {cr(ADULT_PAPER)} plus the airport supplement of "
            f"{cr(AIRPORT_SUPPLEMENT)}, so {cr(ADULT_PAPER + AIRPORT_SUPPLEMENT)}.",
            train=["I only have a paper ticket, how much to the airport?"],
            combines=True,
            derived=True,
        ),
    ]
    return facts


def passes_facts() -> list[Fact]:
    t = "passes"
    return [
        Fact(
            t,
            f"A Day Pass costs {cr(DAY_PASS_ADULT)} for adults and {cr(DAY_PASS_CHILD)} for "
            f"children, with unlimited travel until {DAY_PASS_UNTIL} the next morning.",
            golden=["How much is a day pass?"],
            train=[
                "price of a day ticket?",
                "What does an all-day ticket cost?",
                "unlimited travel for one day, how much?",
                "How much is a kids day pass?",
                "How much is a 1-day travelcard?",
            ],
        ),
        Fact(
            t,
            f"A Day Pass is valid on every line, including Nightglow buses, until {DAY_PASS_UNTIL} "
            "the morning after you first use it.",
            golden=["Until when is a day pass valid?"],
            train=[
                "Does my day pass work after midnight?",
                "When does the day pass expire?",
                "Can I use a day pass on every line?",
            ],
        ),
        Fact(
            t,
            f"A Monthly Pass costs {cr(MONTHLY_ADULT)} for adults, {cr(MONTHLY_CHILD)} for "
            f"children and {cr(MONTHLY_SENIOR)} for seniors, valid 30 days from first use.",
            golden=["How much is a monthly pass?"],
            golden_hard=["monthly pas price for a grown up??"],
            train=[
                "price of a monthly ticket?",
                "What does a 30-day pass cost?",
                "What do pensioners pay for a month of travel?",
                "Monthly season ticket cost?",
                "adult monthly pass cost?",
            ],
        ),
        Fact(
            t,
            f"A Glow card costs a one-off {cr(CARD_FEE)} and is sold at station ticket machines, "
            "Travel Centres and in the LCT app.",
            golden=["Where can I get a Glow card?", "How much does a Glow card cost?"],
            train=[
                "Where do I buy the smart card?",
                "glow card price?",
                "Is the Glow card free?",
                "how do i get one of those glow cards",
                "Where are Glow cards sold?",
            ],
        ),
        Fact(
            t,
            "Top up at any station ticket machine, in the LCT app or at shops showing the Glow "
            f"sign; the minimum top-up is {cr(MIN_TOPUP)}.",
            golden=["How do I top up my Glow card?"],
            train=[
                "Where can I add money to my card?",
                "can i recharge my glow card online",
                "Minimum amount to load on a Glow card?",
                "Can I top up at a corner shop?",
                "Can I top up in the app?",
            ],
        ),
        Fact(
            t,
            f"A Glow card can hold a balance of up to {cr(MAX_BALANCE)}.",
            golden=["Is there a maximum balance on a Glow card?"],
            train=[
                "How much money can a Glow card hold?",
                "What's the max I can load onto my card?",
                "balance limit on glow card?",
            ],
        ),
        Fact(
            t,
            f"Pay-as-you-go on a Glow card is capped at {cr(DAY_PASS_ADULT)} a day, the price of "
            "an adult Day Pass.",
            golden=["Is there a daily fare cap?"],
            train=[
                "Will I pay more than a day pass if I travel a lot?",
                "Does the Glow card cap fares?",
                "whats the most i can be charged in one day",
                "daily maximum on pay as you go?",
            ],
        ),
        Fact(
            t,
            "On the metro tap in and tap out; on buses and trams tap in only. Forgetting to tap "
            f"out costs {cr(MAX_FARE)}.",
            golden=["Do I need to tap out?"],
            golden_hard=["wait do i touch my card on the way OUT too??"],
            train=[
                "Do I tap my card when leaving the station?",
                "What happens if I forget to touch out?",
                "Should I tap off on the tram?",
                "Why was I charged 4.80?",
                "Do I tap out on the bus?",
            ],
        ),
        Fact(
            t,
            "Block a registered Glow card in the LCT app; its balance moves to a replacement card "
            f"for {cr(REPLACEMENT_FEE)}.",
            golden=["I lost my Glow card, what happens to my balance?"],
            train=[
                "My smart card was stolen, can I get my money back?",
                "How do I replace a Glow card?",
                "Is registering my Glow card worth it?",
                "What if someone steals my registered card?",
            ],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            f"No need: four trips would cost {cr(4 * ADULT)}, but the Glow card caps "
            f"pay-as-you-go at {cr(DAY_PASS_ADULT)} a day, the Day Pass price.",
            golden=["Should I buy a Day Pass if I'm making 4 adult trips today?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"The Monthly Pass at {cr(MONTHLY_ADULT)} is cheaper: 44 trips at {cr(ADULT)} cost "
            f"{cr(44 * ADULT)} pay-as-you-go.",
            golden=["I commute 22 days a month, 2 trips a day. Monthly pass or pay as you go?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"{cr(CARD_FEE + MIN_TOPUP)}: the card costs {cr(CARD_FEE)} and the minimum top-up "
            f"is {cr(MIN_TOPUP)}.",
            golden=["What's the least I can spend to get a Glow card with some credit on it?"],
            combines=True,
            derived=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            f"No, pay as you go: two adult trips cost {cr(2 * ADULT)}, less than "
            f"a Day Pass at {cr(DAY_PASS_ADULT)}.",
            train=["Is a day pass worth it for just a return trip?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"Pay as you go: 20 trips at {cr(ADULT)} cost {cr(20 * ADULT)}, less than "
            f"a Monthly Pass at {cr(MONTHLY_ADULT)}.",
            train=["I only go in 10 days a month (return trips). Is the monthly pass worth it?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"You pay at most {cr(DAY_PASS_ADULT)}: five trips would be {cr(5 * ADULT)}, but "
            "the Glow card daily cap applies.",
            train=["I'll be doing 5 journeys today on my Glow card, how much will that be?"],
            combines=True,
            derived=True,
        ),
    ]


def schedules_facts() -> list[Fact]:
    t = "schedules"
    facts = []
    for line in LINES:
        a, b = line.ends
        values = {"line": line.name, "v": line.vehicle, "vs": line.vehicles}
        facts.append(
            Fact(
                t,
                f"The first {line.name} {line.vehicles} leave {a} and {b} at {line.first}, "
                f"{SILVER_DAYS}.",
                golden=fill(
                    [
                        "What time does the first {line} {v} leave?",
                        "How early does the {line} start running?",
                    ],
                    **values,
                ),
                golden_hard=fill(["my shift starts at 6, whens the earliest {line} {v}"], **values),
                train=fill(
                    [
                        "When is the first {line} {v} of the day?",
                        "What time does {line} service begin in the morning?",
                        "earliest {v} on the {line}?",
                        "From what time can I catch a {line} {v}?",
                    ],
                    **values,
                ),
            )
        )
        last = f"The last {line.name} {line.vehicles} leave {a} and {b} at {line.last}"
        if line.name == "Amber Line":
            last += "; on Friday and Saturday nights the line runs all night."
        else:
            last += "."
        facts.append(
            Fact(
                t,
                last,
                golden=fill(
                    [
                        "What time is the last {line} {v}?",
                        "Until what time does the {line} run at night?",
                    ],
                    **values,
                ),
                train=fill(
                    [
                        "When does the final {line} {v} leave?",
                        "last {v} on {line} tonight - what time?",
                        "How late does the {line} operate?",
                        "Latest departure on the {line}?",
                    ],
                    **values,
                ),
            )
        )
        facts.append(
            Fact(
                t,
                f"{line.name} {line.vehicles} run {every_text(line)}.",
                golden=fill(
                    [
                        "How often does the {line} run?",
                        "How long will I wait for a {line} {v}?",
                    ],
                    **values,
                ),
                golden_hard=fill(["{line} - how many {vs} an hour roughly?"], **values),
                train=fill(
                    [
                        "What's the frequency of {line} {vs}?",
                        "How many minutes between {line} {vs}?",
                        "how frequent is the {line}",
                        "Do {line} {vs} come often?",
                    ],
                    **values,
                ),
            )
        )
    facts += [
        Fact(
            t,
            f"Peak hours are {PEAK_HOURS} on weekdays; all other times, including weekends, "
            "are off-peak.",
            golden=["What are your peak hours?"],
            train=[
                "When is peak time on LCT?",
                "what counts as rush hour for lct",
                "Which hours are considered peak?",
                "Is Saturday morning peak time?",
            ],
        ),
        Fact(
            t,
            f"Yes, on Sundays and public holidays all services start {SUNDAY_DELAY_HOURS} hour "
            "later; last departures are unchanged.",
            golden=["Do services start later on Sundays?"],
            train=[
                "Is the timetable different on public holidays?",
                "sunday service times?",
                "Does the metro open later at the weekend?",
            ],
        ),
        Fact(
            t,
            f"No, the Silver Line runs {SILVER_DAYS} only; there is no Sunday service.",
            golden=["Does the Silver Line run on Sundays?"],
            train=[
                "Can I take the Silver Line express bus on a Sunday?",
                "silver line sunday?",
                "Which days does the Silver Line operate?",
            ],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            f"On Sundays the first Amber Line trains leave at "
            f"{add_minutes(LINE['Amber Line'].first, SUNDAY_DELAY_HOURS)}, one hour later than "
            "on other days.",
            golden=["What time is the first Amber Line train on a Sunday?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"Not yet: on Sundays the first Cobalt Line train leaves at "
            f"{add_minutes(LINE['Cobalt Line'].first, SUNDAY_DELAY_HOURS)}, one hour later than "
            "usual.",
            golden=[
                "I land at Lumen Airport at 05:30 on a Sunday. Will a Cobalt Line train be running?"
            ],
            combines=True,
            derived=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            f"On Sundays the first Jade Line trains leave at "
            f"{add_minutes(LINE['Jade Line'].first, SUNDAY_DELAY_HOURS)}, one hour later than on "
            "other days.",
            train=["When does the Jade Line start on Sunday mornings?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"On public holidays the first Crimson Line buses leave at "
            f"{add_minutes(LINE['Crimson Line'].first, SUNDAY_DELAY_HOURS)}, one hour later "
            "than usual.",
            train=["First Crimson Line bus on a bank holiday?"],
            combines=True,
            derived=True,
        ),
    ]
    return facts


def routes_facts() -> list[Fact]:
    t = "routes"
    facts = []
    for line in LINES:
        a, b = line.ends
        middle = line.stations[1:-1]
        values = {"line": line.name, "v": line.vehicle, "vs": line.vehicles, "A": a, "B": b}
        if middle:
            calls = ", ".join(middle[:-1]) + (" and " if len(middle) > 1 else "") + middle[-1]
            answer = f"The {line.name} is {line.a_mode} line from {a} to {b}, calling at {calls}."
        else:
            answer = f"The {line.name} is a non-stop {line.mode} between {a} and {b}."
        facts.append(
            Fact(
                t,
                answer,
                golden=fill(
                    ["Where does the {line} go?", "What are the end stations of the {line}?"],
                    **values,
                ),
                train=fill(
                    [
                        "Which stations does the {line} connect?",
                        "Where does the {line} start and finish?",
                        "what route does the {line} take",
                        "Tell me the stops on the {line}.",
                    ],
                    **values,
                ),
            )
        )
        facts.append(
            Fact(
                t,
                f"A full {line.name} journey from {a} to {b} takes about {line.minutes} minutes.",
                golden=fill(["How long does it take to ride the whole {line}?"], **values),
                golden_hard=fill(["{A} -> {B}, how many mins?"], **values),
                train=fill(
                    [
                        "What's the end-to-end journey time on the {line}?",
                        "How many minutes from {A} to {B} on the {line}?",
                        "How long is the trip between {A} and {B}?",
                    ],
                    **values,
                ),
            )
        )
        if line.colour not in line.name.lower():
            values["colour"] = line.colour
            facts.append(
                Fact(
                    t,
                    f"The {line.colour} line on the network map is the {line.name}, "
                    f"{line.a_mode} line between {a} and {b}.",
                    golden=fill(["Which line is shown in {colour} on the map?"], **values),
                    train=fill(
                        [
                            "What's the {colour} line on the LCT map?",
                            "which line is coloured {colour}",
                            "I see a {colour} line on the map, what is it?",
                        ],
                        **values,
                    ),
                )
            )
    for station in ("Lumen Airport", "Eastbrook Hospital", "Lakeshore Campus", "Saltmarsh",
                    "Quarry Hill", "Glassworks", "Fennel Market", "Beacon Road"):  # fmt: skip
        (line,) = lines_at(station)
        a, b = line.ends
        facts.append(
            Fact(
                t,
                f"{station} is served by the {line.name}, {line.a_mode} line between {a} and {b}.",
                golden=fill(["Which line do I take to get to {s}?"], s=station),
                train=fill(
                    [
                        "What line serves {s}?",
                        "how do i get to {s}",
                        "Which LCT line stops at {s}?",
                        "Is there a line that goes to {s}?",
                    ],
                    s=station,
                ),
            )
        )
    for station in ("Central Exchange", "Harbourgate", "Old Mill Square"):
        names = [f"{line.name} {line.mode}" for line in lines_at(station)]
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        facts.append(
            Fact(
                t,
                f"{station} is an interchange served by the {listed}.",
                golden=fill(["Which lines stop at {s}?"], s=station),
                golden_hard=fill(["can i switch lines at {s} and to what"], s=station),
                train=fill(
                    [
                        "What can I change to at {s}?",
                        "Lines at {s} station?",
                        "Is {s} an interchange?",
                    ],
                    s=station,
                ),
            )
        )
    golden_pairs = [
        ("Riverside", "Lumen Airport"),
        ("Cathedral Steps", "Northfield Park"),
        ("Eastbrook Hospital", "Lumen Airport"),
    ]
    train_pairs = [
        ("Quarry Hill", "Central Exchange"),
        ("Saltmarsh", "Dockside"),
        ("Lakeshore Campus", "Beacon Road"),
        ("Northfield Park", "Glassworks"),
        ("Fennel Market", "Mercer Street"),
        ("Tannery Lane", "Lumen Airport"),
    ]
    for pairs, golden in ((golden_pairs, True), (train_pairs, False)):
        for origin, dest in pairs:
            first, change, second = one_change_route(origin, dest)
            answer = (
                f"Take the {first.name} to {change}, then change to the {second.name} for {dest}."
            )
            if golden:
                fact = Fact(t, answer, golden=[f"How do I get from {origin} to {dest}?"])
            else:
                fact = Fact(
                    t,
                    answer,
                    train=[
                        f"What's the best way from {origin} to {dest}?",
                        f"I'm at {origin}, how do I reach {dest}?",
                    ],
                )
            fact.combines = True
            facts.append(fact)
    return facts


def accessibility_facts() -> list[Fact]:
    t = "accessibility"
    facts = []
    for station in METRO_STATIONS:
        if station in NOT_STEP_FREE:
            near = " and ".join(step_free_neighbours(station))
            answer = (
                f"No, {station} station is not step-free; the nearest step-free stations are "
                f"{near}."
            )
        else:
            answer = (
                f"Yes, {station} station is step-free, with lift access from street to platform."
            )
        facts.append(
            Fact(
                t,
                answer,
                golden=fill(["Is {s} station step-free?"], s=station),
                golden_hard=fill(["can i get to the platform at {s} in a wheelchair"], s=station),
                train=fill(
                    [
                        "Does {s} have a lift?",
                        "Is there step-free access at {s}?",
                        "Are there stairs at {s} station?",
                    ],
                    s=station,
                ),
            )
        )
    facts += [
        Fact(
            t,
            "Yes, all Violet Line tram stops and all bus stops are step-free, with level or ramp "
            "boarding.",
            golden=["Are tram stops accessible for wheelchairs?"],
            train=[
                "Can I board the bus in a wheelchair?",
                "are the trams low floor",
                "Is the Violet Line step-free?",
                "Do buses have ramps?",
            ],
        ),
        Fact(
            t,
            f"Book Travel Assist at least {ASSIST_NOTICE_HOURS} hours ahead in the LCT app or by "
            f"calling {ASSIST_PHONE}; staff will meet you at the station entrance.",
            golden=["How do I book assistance?"],
            golden_hard=["my dad is blind and nervous about the metro, can someone help him?"],
            train=[
                "Can someone help me onto the train?",
                "I need help travelling, who do I call?",
                "How far ahead should I book travel assistance?",
                "what's the number for assisted travel",
            ],
        ),
        Fact(
            t,
            "Disabled passengers with an Access Glow card travel free, and one companion travels "
            "free with them.",
            golden=["Is there free travel for disabled passengers?"],
            train=[
                "Can my carer travel free?",
                "What is the Access Glow card?",
                "Do companions of disabled people pay?",
                "disabled pass?",
            ],
        ),
        Fact(
            t,
            "Each bus has one wheelchair space, and wheelchair users have priority over buggies.",
            golden=["How many wheelchair spaces are on a bus?"],
            train=[
                "Is there room for a wheelchair on the bus?",
                "who gets the space, wheelchair or pram?",
                "Can two wheelchairs fit on one bus?",
            ],
        ),
        Fact(
            t,
            "Live lift status for every station is shown in the LCT app and on the "
            "Accessibility page.",
            golden=["How can I check whether the lifts are working?"],
            train=["How do I know if a lift is broken?", "Is there a list of lift outages?"],
        ),
        Fact(
            t,
            "Staff at every metro station can set up a portable boarding ramp between the "
            "platform and the train; just ask.",
            golden=["Is there a ramp to get onto the train?"],
            train=["Do you have boarding ramps?", "gap between train and platform too big, help?"],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            "Beacon Road is step-free; book Travel Assist at least "
            f"{ASSIST_NOTICE_HOURS} hours ahead in the LCT app or on {ASSIST_PHONE}.",
            golden=[
                "My mum uses a wheelchair and needs help at Beacon Road tomorrow. What do I do?"
            ],
            combines=True,
        ),
        Fact(
            t,
            "Dockside is not step-free, so use Harbourgate or Central Exchange instead and book "
            f"Travel Assist {ASSIST_NOTICE_HOURS} hours ahead.",
            golden=["I use a wheelchair and need to get to Dockside. How do I manage that?"],
            combines=True,
        ),
        Fact(
            t,
            "No, Mercer Street station is not step-free; the nearest step-free stations are "
            "Central Exchange and Northfield Park.",
            golden=[
                (
                    "Is my destination step-free?",
                    "Planned trip: Central Exchange to Mercer Street on the Amber Line.",
                )
            ],
            combines=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            "Tannery Lane is not step-free, so use Old Mill Square or Quarry Hill instead and "
            f"book Travel Assist {ASSIST_NOTICE_HOURS} hours ahead.",
            train=["Wheelchair user heading to Tannery Lane, any advice?"],
            combines=True,
        ),
        Fact(
            t,
            "Yes: Lumen Airport station is step-free, and Travel Assist staff can meet you if you "
            f"book {ASSIST_NOTICE_HOURS} hours ahead.",
            train=["I'm flying out and use a wheelchair; can I get help at Lumen Airport station?"],
            combines=True,
        ),
    ]
    return facts


def bikes_facts() -> list[Fact]:
    t = "bikes"
    return [
        Fact(
            t,
            "Full-size bikes travel free on metro trains outside weekday peak hours "
            f"({PEAK_HOURS}) and at any time at weekends.",
            golden=["Can I take my bike on the metro?"],
            golden_hard=["bicycle + train = allowed?"],
            train=[
                "Are bicycles allowed on trains?",
                "When can I bring a bicycle on the metro?",
                "Do I need a ticket for my bike?",
                "Is it free to bring a bike on the Jade Line?",
                "what are the rules for cycles on the metro",
                "Can I wheel my bicycle onto the Amber Line?",
            ],
        ),
        Fact(
            t,
            "Full-size bikes are not allowed on trams or buses at any time; only folded folding "
            "bikes are.",
            golden=["Can I take a bike on the tram?"],
            train=[
                "Bikes on buses?",
                "can i put my bicycle on the Crimson Line bus",
                "Is there a bike rack on Violet Line trams?",
                "Are cycles allowed on the Silver Line?",
                "no bikes on trams at all?",
            ],
        ),
        Fact(
            t,
            "Folding bikes are allowed on all services at any time, as long as they stay folded.",
            golden=["Can I bring a folding bike at rush hour?"],
            train=[
                "Are fold-up bikes ok on buses?",
                "folding bicycle rules?",
                "My bike folds up - can it go on the bus?",
                "Is a folded bike ok on the Violet Line?",
            ],
        ),
        Fact(
            t,
            "Use the first carriage, marked with a bike symbol; there is room for up to "
            f"{BIKES_PER_TRAIN} bikes per train.",
            golden=["Where should I put my bike on the train?"],
            train=[
                "Which carriage is for bicycles?",
                "How many bikes fit on a train?",
                "is there a bike carriage",
                "Is there a limit on bikes per train?",
            ],
        ),
        Fact(
            t,
            "E-scooters are banned on all LCT services, even folded; e-bikes follow the same "
            "rules as bicycles.",
            golden=["Can I bring my electric scooter?"],
            golden_hard=["e scooter on the tram? its a small one"],
            train=[
                "Are e-scooters allowed?",
                "can i take my e-bike on the train",
                "Electric scooter on the bus?",
                "Are electric scooters permitted on the metro?",
            ],
        ),
        Fact(
            t,
            "Secure bike lockers at "
            + ", ".join(BIKE_LOCKER_STATIONS[:-1])
            + f" and {BIKE_LOCKER_STATIONS[-1]} cost {cr(BIKE_LOCKER)} per day, paid with a Glow "
            "card.",
            golden=["Is there bike parking at stations?"],
            train=[
                "Where can I lock my bike?",
                "How much are the bike lockers?",
                "bike storage at riverside?",
                "Can I leave my bicycle at Central Exchange?",
                "Do you have secure cycle storage?",
            ],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            "No: full-size bikes are not allowed on the metro during weekday peak hours "
            f"({PEAK_HOURS}). A folded folding bike is fine.",
            golden=["Can I take my bike on the Amber Line at 8am on a Tuesday?"],
            combines=True,
        ),
        Fact(
            t,
            "Yes, full-size bikes are allowed on metro trains at any time at weekends; use the "
            "first carriage.",
            golden=["Saturday 8:30am on the Jade Line with my bike - is that ok?"],
            combines=True,
        ),
        Fact(
            t,
            "No, full-size bikes are never allowed on Violet Line trams, on any day; only folded "
            "folding bikes are.",
            golden=["Can I bring my bike on the tram on a Sunday when it's quiet?"],
            combines=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            "No, 17:30 on a weekday is peak time, when full-size bikes are not allowed on the "
            "metro; try after 19:00.",
            train=[
                "Bike on the Cobalt Line at 17:30 on Wednesday?",
                "Is 17:30 on a weekday ok for my bike on the Jade Line?",
            ],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            "Yes, weekday late mornings are off-peak, so full-size bikes travel free on the "
            "metro; use the first carriage.",
            train=[
                "Can I bring my bicycle on the Amber Line at 11am on a Thursday?",
                "Taking my bike on the metro mid-morning on a weekday - allowed?",
            ],
            combines=True,
        ),
        Fact(
            t,
            "No, full-size bikes are not allowed on buses on any day, weekends included; fold "
            "it if it is a folding bike.",
            train=[
                "Can my bike come on the Crimson Line bus on a Saturday?",
                "Weekend bus trip with my bicycle, is it allowed?",
            ],
            combines=True,
        ),
    ]


def lost_and_found_facts() -> list[Fact]:
    t = "lost_and_found"
    office = (
        f"The Lost Property Office is on the lower concourse at Central Exchange, open "
        f"{LPO_WEEKDAYS} and {LPO_SATURDAY}."
    )
    return [
        Fact(
            t,
            office,
            golden=["Where is the lost property office?", "When is lost property open?"],
            train=[
                "What are the opening hours of lost and found?",
                "where do i go to pick up something i left on the train",
                "Is lost property open on Saturdays?",
                "Lost and found location?",
                "What time does the lost property office close on weekdays?",
            ],
        ),
        Fact(
            t,
            "Report a lost item with the Lost Something form in the LCT app or on the website; "
            "we email you if it is found.",
            golden=["How do I report a lost item?"],
            golden_hard=["left my headphones somewhere on yr trains, help"],
            train=[
                "I left my bag on a train, what should I do?",
                "How do I tell you I lost something?",
                "is there a form for lost stuff",
                "Who do I contact about a lost phone?",
                "Lost my keys on the tram, how do I report it?",
            ],
        ),
        Fact(
            t,
            f"Items are kept for {LPO_KEEP_DAYS} days and then donated to charity; ID documents "
            f"go to City Police after {LPO_ID_DAYS} days.",
            golden=["How long do you keep lost items?"],
            train=[
                "What happens to unclaimed property?",
                "how long before my lost stuff gets thrown away",
                "Do you keep found items forever?",
                "How many days do you hold lost items for?",
            ],
        ),
        Fact(
            t,
            "Items found on the metro reach the office the next day; items from buses and trams "
            "take up to 2 working days.",
            golden=["When will my lost item arrive at the office?"],
            train=[
                "How soon does found property get to lost and found?",
                "How long until an item left on a bus reaches lost property?",
                "does stuff found on trams go straight to the office",
                "When does stuff left on the metro get to lost property?",
            ],
        ),
        Fact(
            t,
            f"Collection costs {cr(LPO_FEE)} per item, and ID documents are free to collect. "
            "Bring photo ID.",
            golden=["Is there a fee to collect lost property?"],
            train=[
                "Do I have to pay to get my stuff back?",
                "what do i need to bring to collect my wallet",
                "How much is the collection fee?",
                "Is it free to pick up my lost ID card?",
            ],
        ),
        Fact(
            t,
            f"We can post small items to you for a fee of {cr(LPO_POST_FEE)}; ask when your item "
            "is found.",
            golden=["Can you post my lost item to me?"],
            train=[
                "Can lost property be mailed?",
                "I live out of town, can you send my keys?",
                "Do you offer delivery of found items?",
            ],
        ),
        Fact(
            t,
            "Food and other perishable items are disposed of on the day they are found.",
            golden=["Do you keep food that people leave behind?"],
            train=[
                "What happens to lost groceries?",
                "left my lunch on the bus, will you keep it?",
                "Are perishables kept at lost property?",
            ],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            "Probably not yet: items from buses take up to 2 working days to reach the Lost "
            "Property Office at Central Exchange.",
            golden=[
                "I left my umbrella on a Crimson Line bus this morning. Can I pick it up today?"
            ],
            combines=True,
        ),
        Fact(
            t,
            "No, the Lost Property Office at Central Exchange is closed on Sundays; it opens "
            f"{LPO_WEEKDAYS} and {LPO_SATURDAY}.",
            golden=[
                (
                    "Can I collect it today?",
                    "Conversation so far: the customer left a backpack on a Violet Line tram "
                    "yesterday. Today is Sunday.",
                )
            ],
            combines=True,
        ),
        Fact(
            t,
            f"ID documents are handed to City Police after {LPO_ID_DAYS} days, so contact City "
            "Police about your passport.",
            golden=["I left my passport on the Cobalt Line 10 days ago. Where is it now?"],
            combines=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            "Items found on the metro reach the office the next day, so ask at the Lost Property "
            "Office at Central Exchange today.",
            train=[
                "I lost my phone on the Jade Line yesterday, is it at lost property yet?",
                "Left my wallet on an Amber Line train last night. Is it at the office now?",
            ],
            combines=True,
        ),
        Fact(
            t,
            f"Unclaimed items are kept for {LPO_KEEP_DAYS} days, so after 40 days it will have "
            "been donated to charity.",
            train=["I lost a jacket 40 days ago, can I still get it back?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"No, the Lost Property Office is only open {LPO_SATURDAY}; come back on Monday "
            "from 09:00.",
            train=[
                "Can I collect my bag at 3pm this Saturday?",
                "Will lost property be open at 4pm on Saturday?",
            ],
            combines=True,
        ),
    ]


def refunds_facts() -> list[Fact]:
    t = "refunds"
    return [
        Fact(
            t,
            f"With Delay Repay, metro and tram delays of {DELAY_HALF_MIN} to 29 minutes refund "
            f"half your fare, and delays of {DELAY_FULL_MIN} minutes or more refund it in full.",
            golden=["What compensation do I get for a delayed train?"],
            golden_hard=["trains ALWAYS late. do i get anything back or what"],
            train=[
                "Do you refund late trains?",
                "how does delay repay work",
                "My tram was late, can I claim?",
                "Is there compensation when the tram is delayed?",
                "What's the refund if the metro is 30 minutes late?",
            ],
        ),
        Fact(
            t,
            f"Claim Delay Repay in the LCT app or on the website within {DELAY_CLAIM_DAYS} days; "
            "the money goes to your Glow card within 5 working days.",
            golden=["How long do I have to claim for a delay?"],
            train=[
                "How do I claim delay compensation?",
                "where do i apply for delay repay",
                "When will I get my delay refund?",
                "Is there a deadline for delay claims?",
                "Can I still claim for a delay from last month?",
            ],
        ),
        Fact(
            t,
            "Delay Repay covers metro and tram services only; bus delays caused by road traffic "
            "are not compensated.",
            golden=["Can I claim for a late bus?"],
            train=[
                "Does delay repay cover the Crimson Line?",
                "bus was 40 minutes late, refund?",
                "Are buses included in delay compensation?",
                "Is Delay Repay available on the Silver Line?",
            ],
        ),
        Fact(
            t,
            f"Monthly Pass holders can claim {cr(DELAY_PASS_CREDIT)} for each metro or tram delay "
            f"of {DELAY_HALF_MIN} minutes or more.",
            golden=["I have a monthly pass, can I still claim Delay Repay?"],
            train=[
                "Do pass holders get delay compensation?",
                "delay repay with a season pass?",
                "Monthly pass and my train was late, what do I get?",
            ],
        ),
        Fact(
            t,
            f"Unused days on a Monthly Pass are refunded pro rata, minus an admin fee "
            f"of {cr(PASS_REFUND_FEE)}, if you apply before it expires.",
            golden=["Can I get a refund on my monthly pass?"],
            train=[
                "I'm moving away, can I cancel my monthly pass?",
                "refund for unused days of a monthly ticket?",
                "Is there a fee to refund a pass?",
                "What's the admin fee for refunding a monthly pass?",
            ],
        ),
        Fact(
            t,
            f"Unused Day Passes can be refunded within {DAY_PASS_REFUND_DAYS} days of purchase; "
            "once used, they are non-refundable.",
            golden=["Can I get my money back for a day pass?"],
            train=[
                "I bought a day pass but didn't travel, refund?",
                "are day passes refundable",
                "Can I return a day pass I never used?",
            ],
        ),
        Fact(
            t,
            f"Return your Glow card at a Travel Centre to cash out a balance of up to "
            f"{cr(CASH_OUT_LIMIT)}; the card fee of {cr(CARD_FEE)} is not refunded.",
            golden=["Can I get my Glow card balance back?"],
            train=[
                "How do I cash out my smart card?",
                "refund remaining credit on glow card",
                "Do I get the card fee back?",
                "I'm leaving Lumen City, can I get my card credit back?",
            ],
        ),
        Fact(
            t,
            f"If you were charged {cr(MAX_FARE)} for not tapping out, request a correction in the "
            f"LCT app within {TAP_CORRECTION_DAYS} days.",
            golden=["I was overcharged because I forgot to tap out. Can I fix it?"],
            train=[
                "Incomplete journey charge refund?",
                "wrong fare charged after no tap out, help",
                "I was charged 4.80 for a short trip, how do I fix it?",
            ],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            f"You can claim {cr(ADULT // 2)}, half of your fare of {cr(ADULT)}, through Delay "
            f"Repay within {DELAY_CLAIM_DAYS} days.",
            golden=["My Amber Line train was 20 minutes late and I paid 2.40. What can I claim?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"A delay of {DELAY_FULL_MIN} minutes or more refunds your fare in full, so you can "
            f"claim {cr(ADULT_PAPER)} through Delay Repay.",
            golden=["My tram was 45 minutes late and I had a paper ticket. What do I get back?"],
            combines=True,
        ),
        Fact(
            t,
            "Nothing through Delay Repay: it covers metro and tram services only, not buses "
            "delayed by road traffic.",
            golden=[
                "Crimson Line bus was 35 mins late because of traffic, can I claim delay repay?"
            ],
            combines=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            f"A delay of {DELAY_FULL_MIN} minutes or more refunds your fare in full, so claim "
            f"{cr(ADULT)} through Delay Repay.",
            train=["Jade Line train 35 min late, I paid with my Glow card. Refund amount?"],
            combines=True,
        ),
        Fact(
            t,
            f"You can claim {cr(ADULT_PAPER // 2)}, half of your paper fare of {cr(ADULT_PAPER)}, "
            "through Delay Repay.",
            train=["Cobalt Line delayed 18 minutes, paper ticket. How much back?"],
            combines=True,
            derived=True,
        ),
        Fact(
            t,
            f"Delay Repay starts at {DELAY_HALF_MIN} minutes, so a 10-minute delay is not "
            "compensated.",
            train=["My metro was 10 minutes late, can I claim something?"],
            combines=True,
            derived=True,
        ),
    ]


def pets_luggage_facts() -> list[Fact]:
    t = "pets_luggage"
    return [
        Fact(
            t,
            f"Dogs travel free on a short lead, up to {DOGS_PER_PASSENGER} per passenger, and "
            "must not sit on seats.",
            golden=["Can I bring my dog?"],
            train=[
                "Are dogs allowed on the metro?",
                "do dogs need a ticket",
                "How many dogs can I bring?",
                "Can my puppy sit on the seat?",
                "Is my dog allowed on the Violet Line tram?",
            ],
        ),
        Fact(
            t,
            "Dogs are not allowed on buses during weekday peak hours unless in a carrier; "
            "assistance dogs are always welcome.",
            golden=["Can I take my dog on the bus in rush hour?"],
            train=[
                "Are there times when dogs can't ride buses?",
                "dog restrictions on buses?",
                "Why was my dog refused on the bus this morning?",
            ],
        ),
        Fact(
            t,
            "Cats, rabbits, birds and other small pets travel free in a closed carrier.",
            golden=["Can I bring my cat?"],
            golden_hard=["hamster in a box on the metro - allowed??"],
            train=[
                "Can I take a rabbit on the train?",
                "pet carrier on the bus allowed?",
                "Do small animals need a ticket?",
                "Can I travel with my parrot?",
                "Can I bring my guinea pig in a cage?",
            ],
        ),
        Fact(
            t,
            "Assistance dogs travel free on every service at all times.",
            golden=["Are guide dogs allowed?"],
            train=[
                "Can my assistance dog come at peak times?",
                "Do service dogs pay?",
                "Do assistance dogs need a ticket?",
            ],
        ),
        Fact(
            t,
            f"You can bring up to {SUITCASES} large suitcases plus 1 small bag; keep doors and "
            "aisles clear.",
            golden=["How much luggage can I bring?"],
            train=[
                "Is there a limit on suitcases?",
                "can i bring 2 big suitcases on the metro",
                "Luggage allowance?",
                "How many bags am I allowed?",
                "Can I bring a big suitcase on the tram?",
            ],
        ),
        Fact(
            t,
            f"Items longer than {MAX_ITEM_METRES} metres are not allowed on any service.",
            golden=["Is there a size limit for things I carry on board?"],
            train=[
                "Can I carry a 3 metre ladder on the train?",
                "What's the maximum length of an item I can bring?",
                "I need to carry a 2.5 metre pole, is that ok?",
            ],
        ),
        Fact(
            t,
            "Cobalt Line trains to Lumen Airport have luggage racks in every carriage.",
            golden=["Is there space for suitcases on the airport train?"],
            train=[
                "Where do I put my luggage on the Cobalt Line?",
                "luggage racks on airport metro?",
                "Is there a luggage rack on airport trains?",
            ],
        ),
        Fact(
            t,
            "Prams and buggies are welcome unfolded on all services, but give way to wheelchair "
            "users in the wheelchair space.",
            golden=["Do I need to fold my pushchair?"],
            train=[
                "Can I take a pram on the bus?",
                "buggy on the tram ok?",
                "Do I have to fold my buggy on the metro?",
            ],
        ),
        Fact(
            t,
            "Fuel cans, gas bottles and fireworks are banned on all services.",
            golden=["Can I bring a gas bottle?"],
            train=[
                "Are fireworks allowed?",
                "what items are prohibited",
                "can i carry petrol",
                "Is it ok to carry a camping gas canister?",
            ],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            f"Your dog can come free on a short lead, but only {SUITCASES} large suitcases plus "
            "1 small bag are allowed, not 3.",
            golden=["I'm moving flat: can I bring my dog and 3 big suitcases on the metro?"],
            combines=True,
        ),
        Fact(
            t,
            "Yes: up to 2 dogs on short leads travel free, and your cat travels free in a closed "
            "carrier.",
            golden=["Can my two labradors and my cat (in her carrier) come on the tram with me?"],
            combines=True,
        ),
        Fact(
            t,
            "Not unless it is in a carrier: dogs are not allowed on buses during weekday peak "
            "hours. Assistance dogs are exempt.",
            golden=["Can I bring my dog on the Crimson Line bus at 08:15 on a Monday?"],
            combines=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            "Yes, weekends are off-peak, so your dog can ride the bus on a short lead for free.",
            train=["Dog on the Silver Line bus at 8am on Saturday?"],
            combines=True,
        ),
        Fact(
            t,
            f"Only {DOGS_PER_PASSENGER} dogs are allowed per passenger, so the third needs "
            "another adult travelling with you.",
            train=["I walk 3 dogs, can I take them all on the train?"],
            combines=True,
        ),
        Fact(
            t,
            "Yes, assistance dogs travel free on every service at all times, including buses at "
            "peak hours.",
            train=["Is my guide dog allowed on the bus at 8am on a weekday?"],
            combines=True,
        ),
    ]


def night_service_facts() -> list[Fact]:
    t = "night_service"
    routes = ", ".join(f"{n} {a} to {b}" for n, a, b in NIGHT_BUSES[:-1])
    n, a, b = NIGHT_BUSES[-1]
    routes += f" and {n} {a} to {b}"
    return [
        Fact(
            t,
            f"Three Nightglow buses run overnight: {routes}.",
            golden=["What night buses are there?"],
            train=[
                "Is there any transport after midnight?",
                "which nightglow routes exist",
                "Do you run night buses?",
                "Which night bus goes to the airport?",
                "List the Nightglow routes please",
            ],
        ),
        Fact(
            t,
            f"Nightglow buses run from {NIGHT_START} to {NIGHT_END} every night: every "
            f"{NIGHT_WEEKEND_MIN} minutes on Friday and Saturday nights, every "
            f"{NIGHT_WEEKDAY_MIN} minutes otherwise.",
            golden=["How often do night buses run?", "What time do night buses start?"],
            train=[
                "When do the Nightglow buses operate?",
                "night bus frequency at weekends?",
                "How long is the wait for a night bus on a Tuesday?",
                "what hours do the N buses run",
                "What time does the last night bus run?",
                "How often is the night bus on a Friday?",
            ],
        ),
        Fact(
            t,
            f"Nightglow buses charge standard fares, and Day Passes are valid on them until "
            f"{DAY_PASS_UNTIL}.",
            golden=["Are night buses more expensive?"],
            train=[
                "Is there a night fare?",
                "does my day pass work on the night bus",
                "Do I pay extra after midnight?",
                "Are Nightglow fares the same as daytime?",
            ],
        ),
        Fact(
            t,
            "The Amber All-Nighter runs Amber Line trains all night on Friday and Saturday "
            f"nights, every {ALL_NIGHTER_MIN} minutes.",
            golden=["Does any metro line run all night?"],
            golden_hard=["24h trains on fri/sat?? which line"],
            train=[
                "Is the Amber Line 24 hours at weekends?",
                "What is the Amber All-Nighter?",
                "Does the metro run overnight on Fridays?",
                "Which metro line keeps running through Saturday night?",
            ],
        ),
        Fact(
            t,
            f"After {SAFE_STOP_AFTER} you can ask any bus driver to let you off between stops "
            "where it is safe to do so.",
            golden=["Can the bus drop me between stops at night?"],
            train=[
                "What is Safe Stop?",
                "can the driver let me off closer to home late at night",
                "Do night buses stop on request?",
                "Can I get off the bus between stops late in the evening?",
            ],
        ),
        Fact(
            t,
            "All Nightglow buses call at Central Exchange, leaving from Stand N outside the main "
            "entrance.",
            golden=["Where do night buses leave from at Central Exchange?"],
            train=[
                "Which stand for the night bus?",
                "where do i catch the N2",
                "Where is Stand N?",
            ],
        ),
        # Combinations reserved for the golden set.
        Fact(
            t,
            "Take the N2 Nightglow bus from Stand N at Central Exchange to Lumen Airport; it runs "
            f"from {NIGHT_START} to {NIGHT_END}.",
            golden=[
                "I missed the last Cobalt Line train at Central Exchange. How do I get to the "
                "airport?"
            ],
            combines=True,
        ),
        Fact(
            t,
            "Take the N3 Nightglow bus from Central Exchange to Eastbrook Hospital; on weeknights "
            f"it runs every {NIGHT_WEEKDAY_MIN} minutes until {NIGHT_END}.",
            golden=[
                (
                    "How can I get there right now?",
                    "Location: Central Exchange. Time: 01:30 on a Tuesday. "
                    "Destination: Eastbrook Hospital.",
                )
            ],
            combines=True,
        ),
        Fact(
            t,
            "Yes, the Amber All-Nighter runs Amber Line trains every "
            f"{ALL_NIGHTER_MIN} minutes all night on Saturday nights.",
            golden=[
                "Saturday night, 2am, Harbourgate. Can I still get a train to Northfield Park?"
            ],
            combines=True,
        ),
        # Combinations reserved for training.
        Fact(
            t,
            "Take the N2 Nightglow bus from Central Exchange to Lumen Airport; on weeknights it "
            f"runs every {NIGHT_WEEKDAY_MIN} minutes.",
            train=[
                "How do I get to the airport at 2am on a Wednesday?",
                "Stuck in town at 1am on a Monday, how do I reach Lumen Airport?",
            ],
            combines=True,
        ),
        Fact(
            t,
            "Yes, on Friday nights the Amber All-Nighter runs every "
            f"{ALL_NIGHTER_MIN} minutes all night, as far as Northfield Park.",
            train=[
                "Friday night, 1am: are there trains to Northfield Park?",
                "Is the Amber Line still running at 3am after a Friday night out?",
            ],
            combines=True,
        ),
        Fact(
            t,
            "Take the N3 Nightglow bus from Central Exchange; on Saturday nights it runs every "
            f"{NIGHT_WEEKEND_MIN} minutes until {NIGHT_END}.",
            train=[
                "Saturday night after midnight, how do I get to Eastbrook Hospital?",
                "Need to visit Eastbrook Hospital at 1am on a Saturday night, what runs?",
            ],
            combines=True,
        ),
    ]


def build_facts() -> list[Fact]:
    facts = (
        fares_facts()
        + passes_facts()
        + schedules_facts()
        + routes_facts()
        + accessibility_facts()
        + bikes_facts()
        + lost_and_found_facts()
        + refunds_facts()
        + pets_luggage_facts()
        + night_service_facts()
    )
    for fact in facts:
        assert fact.topic in TOPICS, fact.topic
        words = len(fact.answer.split())
        assert words <= MAX_ANSWER_WORDS, f"{words} words: {fact.answer}"
        assert fact.golden or fact.golden_hard or fact.train, fact.answer
    return facts


def answer_json(fact: Fact) -> str:
    """The strict output format: one JSON object on one line, keys exactly topic and answer."""
    return json.dumps({"topic": fact.topic, "answer": fact.answer}, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Knowledge base: help-centre pages written from the same constants
# --------------------------------------------------------------------------------------------


def page_fares() -> str:
    return f"""# Fares and tickets

All prices on this page are in credits, the fare unit used across the {OPERATOR} network. Fares
are the same on the metro, the Violet Line tram and all buses.

## Adult single fares

An adult single fare costs {cr(ADULT)} when you pay with a Glow card or a contactless bank card
or phone. A paper single ticket costs {cr(ADULT_PAPER)}. Paper single tickets are sold at the
ticket machines in every metro station.

Contactless bank cards and phones are charged exactly the same fares as a Glow card.

## Transfers

A single fare lets you change between any lines (metro, tram and bus) for {TRANSFER_MINUTES}
minutes from your first tap. You do not pay again when you change within that time.

## Children, seniors and students

Children aged 5 to 15 pay {cr(CHILD)} per single journey. Children under {FREE_UNDER} travel free
with a paying adult, up to {FREE_CHILDREN_PER_ADULT} children per adult.

Passengers aged 65 and over pay {cr(SENIOR)} per single journey with a Senior Glow card. Full-time
students pay {cr(STUDENT)} per single journey with a Student Glow card. Apply for a Senior or
Student Glow card at any Travel Centre with proof of age or enrolment.

## Airport supplement

Journeys to or from Lumen Airport station cost an extra {cr(AIRPORT_SUPPLEMENT)}. The supplement
is added on top of any fare or pass, including concession fares and Day Passes. Children under
{FREE_UNDER} are exempt.

## Paying on buses

Buses do not accept cash. Pay with a Glow card or a contactless bank card or phone by tapping
the reader next to the driver.

## Ticket machines

Ticket machines offer six languages and accept cards and coins. Machines at Central Exchange and
Lumen Airport also sell souvenir Glow cards with seasonal designs, at the standard card price.
"""


def page_passes() -> str:
    return f"""# Passes and the Glow card

## The Glow card

The Glow card is {OPERATOR}'s smart card. It costs a one-off {cr(CARD_FEE)} and is sold at station
ticket machines, Travel Centres and in the LCT app (as a digital card).

Top up at any station ticket machine, in the LCT app or at shops showing the Glow sign. The
minimum top-up is {cr(MIN_TOPUP)}. A Glow card can hold a balance of up to {cr(MAX_BALANCE)}.

## Tapping in and out

On the metro, tap in at the gate when you start and tap out when you finish. On buses and trams,
tap in only. If you forget to tap out of the metro, you are charged the maximum fare of
{cr(MAX_FARE)}.

## Daily fare cap

Pay-as-you-go on a Glow card is capped at {cr(DAY_PASS_ADULT)} a day, the price of an adult Day
Pass. Once you reach the cap, the rest of the day's journeys are free.

## Day Pass

A Day Pass costs {cr(DAY_PASS_ADULT)} for adults and {cr(DAY_PASS_CHILD)} for children. It gives
unlimited travel on every line, including Nightglow buses, until {DAY_PASS_UNTIL} the morning after
you first use it.

## Monthly Pass

A Monthly Pass costs {cr(MONTHLY_ADULT)} for adults, {cr(MONTHLY_CHILD)} for children and
{cr(MONTHLY_SENIOR)} for seniors. It is loaded onto a Glow card and is valid for 30 days from
first use.

## Lost or stolen cards

Register your Glow card in the LCT app to protect its balance. If a registered card is lost or
stolen, block it in the LCT app; its balance and any pass move to a replacement card for
{cr(REPLACEMENT_FEE)}. Unregistered cards cannot be replaced.

## Card designs

Glow cards come in five colours. The colour has no effect on fares; it just helps families tell
their cards apart.
"""


def page_schedules() -> str:
    parts = [
        "# Timetables and service hours\n",
        "## Peak and off-peak\n",
        f"Peak hours are {PEAK_HOURS} on weekdays. All other times, including weekends, are "
        "off-peak.\n",
        "## Sundays and public holidays\n",
        f"On Sundays and public holidays all services start {SUNDAY_DELAY_HOURS} hour later "
        "than the times below. Last departures are unchanged.\n",
    ]
    for line in LINES:
        a, b = line.ends
        days = SILVER_DAYS if line.name == "Silver Line" else "Monday to Saturday"
        text = (
            f"The first {line.name} {line.vehicles} leave {a} and {b} at {line.first}, {days}. "
            f"The last {line.name} {line.vehicles} leave {a} and {b} at {line.last}. "
            f"{line.name} {line.vehicles} run {every_text(line)}."
        )
        if line.name == "Amber Line":
            text += (
                " On Friday and Saturday nights the Amber Line runs all night (see Night service)."
            )
        if line.name == "Silver Line":
            text += f" The Silver Line runs {SILVER_DAYS} only; there is no Sunday service."
        parts += [f"## {line.name}\n", text + "\n"]
    parts += [
        "## Timetable changes\n",
        "Engineering works are announced at least two weeks ahead in the LCT app. Printed "
        "timetables are no longer produced; scan the code at any stop for live departures.\n",
    ]
    return "\n".join(parts)


def page_routes() -> str:
    parts = [
        "# Lines and routes\n",
        f"{OPERATOR} runs three metro lines, one tram line and two bus lines. Each line has its "
        "own colour on the network map.\n",
    ]
    for line in LINES:
        a, b = line.ends
        stops = ", ".join(line.stations)
        parts += [
            f"## {line.name}\n",
            f"The {line.name} is {line.a_mode} line, shown in {line.colour} on the network map. "
            f"It runs from {a} to {b}. Stops in order: {stops}. A full journey from {a} to {b} "
            f"takes about {line.minutes} minutes.\n",
        ]
    parts.append("## Interchanges\n")
    for station in ("Central Exchange", "Harbourgate", "Old Mill Square"):
        names = [f"{line.name} {line.mode}" for line in lines_at(station)]
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        parts.append(f"{station} is an interchange served by the {listed}.\n")
    parts += [
        "## Journey planning\n",
        "The journey planner in the LCT app shows the fastest route between any two stops, "
        "including where to change.\n",
        "## Station names\n",
        "Old Mill Square was called Millgate until the Jade Line opened. Glassworks stop is "
        "named after the former glass factory, now the city design museum.\n",
    ]
    return "\n".join(parts)


def page_accessibility() -> str:
    not_sf = []
    for station in NOT_STEP_FREE:
        near = " and ".join(step_free_neighbours(station))
        not_sf.append(
            f"{station} station is not step-free. The nearest step-free stations are {near}."
        )
    step_free = [s for s in METRO_STATIONS if s not in NOT_STEP_FREE]
    return f"""# Accessibility

## Step-free stations

These metro stations are step-free, with lift access from street to platform: \
{", ".join(step_free)}.

{chr(10).join(not_sf)}

All Violet Line tram stops and all bus stops are step-free, with level or ramp boarding.

Live lift status for every station is shown in the LCT app and on the Accessibility page.

## Travel Assist

Book Travel Assist at least {ASSIST_NOTICE_HOURS} hours ahead in the LCT app or by calling
{ASSIST_PHONE}. Staff will meet you at the station entrance and help you to and from the train.
Travel Assist is available during all service hours.

Staff at every metro station can set up a portable boarding ramp between the platform and the
train. Just ask.

## Access Glow card

Disabled passengers with an Access Glow card travel free, and one companion travels free with
them. Apply at any Travel Centre.

## Buses and trams

Each bus has one wheelchair space, and wheelchair users have priority over buggies. Violet Line
trams are low-floor with level boarding at every stop.

## Quiet hours

Station announcements are kept to a minimum between 10:00 and 12:00 on weekdays, for passengers
who prefer a calmer journey.
"""


def page_bikes() -> str:
    lockers = ", ".join(BIKE_LOCKER_STATIONS[:-1]) + f" and {BIKE_LOCKER_STATIONS[-1]}"
    return f"""# Bikes and scooters

## Bikes on the metro

Full-size bikes travel free on metro trains outside weekday peak hours ({PEAK_HOURS}) and at any
time at weekends. Use the first carriage, marked with a bike symbol. There is room for up to
{BIKES_PER_TRAIN} bikes per train.

## Trams and buses

Full-size bikes are not allowed on trams or buses at any time.

## Folding bikes

Folding bikes are allowed on all services at any time, as long as they stay folded.

## E-scooters and e-bikes

E-scooters are banned on all LCT services, even when folded. E-bikes follow the same rules as
bicycles.

## Bike lockers

Secure bike lockers at {lockers} cost {cr(BIKE_LOCKER)} per day, paid with a Glow card.

## Cycle to work scheme

Employers in Lumen City can join the Ride and Glide scheme for discounted locker rental. Ask your
employer for details.
"""


def page_lost_and_found() -> str:
    return f"""# Lost property

## Reporting a lost item

Report a lost item with the Lost Something form in the LCT app or on the website. We email you if
it is found.

## Lost Property Office

The Lost Property Office is on the lower concourse at Central Exchange. Opening hours: \
{LPO_WEEKDAYS} and {LPO_SATURDAY}. It is closed on Sundays and public holidays.

## How long items take to arrive

Items found on the metro reach the office the next day. Items from buses and trams take up to 2
working days.

## How long we keep items

Items are kept for {LPO_KEEP_DAYS} days and then donated to charity. ID documents such as
passports and driving licences go to City Police after {LPO_ID_DAYS} days. Food and other
perishable items are disposed of on the day they are found.

## Collecting and postage

Collection costs {cr(LPO_FEE)} per item, and ID documents are free to collect. Bring photo ID. We
can post small items to you for a fee of {cr(LPO_POST_FEE)}; ask when your item is found.

## Most common items

Last year the office handled 41,000 items. Umbrellas, gloves and phone chargers top the list.
"""


def page_refunds() -> str:
    return f"""# Refunds and Delay Repay

## Delay Repay

With Delay Repay, metro and tram delays of {DELAY_HALF_MIN} to 29 minutes refund half your fare,
and delays of {DELAY_FULL_MIN} minutes or more refund it in full. Delay Repay covers metro and
tram services only; bus delays caused by road traffic are not compensated.

Claim Delay Repay in the LCT app or on the website within {DELAY_CLAIM_DAYS} days. The money goes
to your Glow card within 5 working days.

Monthly Pass holders can claim {cr(DELAY_PASS_CREDIT)} for each metro or tram delay of
{DELAY_HALF_MIN} minutes or more.

## Pass refunds

Unused days on a Monthly Pass are refunded pro rata, minus an admin fee of {cr(PASS_REFUND_FEE)}, if
you apply before it expires. Unused Day Passes can be refunded within {DAY_PASS_REFUND_DAYS} days
of purchase; once used, they are non-refundable.

## Glow card balance

Return your Glow card at a Travel Centre to cash out a balance of up to {cr(CASH_OUT_LIMIT)}. The
card fee of {cr(CARD_FEE)} is not refunded.

## Incorrect charges

If you were charged {cr(MAX_FARE)} for not tapping out, request a correction in the LCT app within
{TAP_CORRECTION_DAYS} days.

## Punctuality

Our punctuality figures are published every four weeks in the LCT app under About us.
"""


def page_pets_luggage() -> str:
    return f"""# Pets and luggage

## Dogs

Dogs travel free on a short lead, up to {DOGS_PER_PASSENGER} per passenger, and must not sit on
seats. Dogs are not allowed on buses during weekday peak hours ({PEAK_HOURS}) unless in a
carrier.

## Assistance dogs

Assistance dogs travel free on every service at all times.

## Other pets

Cats, rabbits, birds and other small pets travel free in a closed carrier.

## Luggage

You can bring up to {SUITCASES} large suitcases plus 1 small bag. Keep doors and aisles clear.
Items longer than {MAX_ITEM_METRES} metres are not allowed on any service. Cobalt Line trains to
Lumen Airport have luggage racks in every carriage.

## Prams and buggies

Prams and buggies are welcome unfolded on all services, but give way to wheelchair users in the
wheelchair space.

## Prohibited items

Fuel cans, gas bottles and fireworks are banned on all services.

## Animal welfare

In hot weather, bring water for your dog. Water bowls are available at staffed stations.
"""


def page_night_service() -> str:
    lines = "\n".join(f"- {n}: {a} to {b}, via Central Exchange" if a != "Central Exchange"
                      else f"- {n}: {a} to {b}" for n, a, b in NIGHT_BUSES)  # fmt: skip
    return f"""# Night service

## Nightglow buses

Three Nightglow buses run overnight:

{lines}

Nightglow buses run from {NIGHT_START} to {NIGHT_END} every night: every {NIGHT_WEEKEND_MIN}
minutes on Friday and Saturday nights, every {NIGHT_WEEKDAY_MIN} minutes on other nights.

All Nightglow buses call at Central Exchange, leaving from Stand N outside the main entrance.

## Fares at night

Nightglow buses charge standard fares. Day Passes are valid on them until {DAY_PASS_UNTIL}.

## Amber All-Nighter

The Amber All-Nighter runs Amber Line trains all night on Friday and Saturday nights, every
{ALL_NIGHTER_MIN} minutes.

## Safe Stop

After {SAFE_STOP_AFTER} you can ask any bus driver to let you off between stops where it is safe
to do so.

## Staying safe

Every Nightglow bus has CCTV and a direct radio link to the control centre.
"""


def page_about() -> str:
    return f"""# About {OPERATOR}

## Who we are

{OPERATOR} (LCT) has run public transport in Lumen City since 1962, when the first tram line
opened. Today we carry around 310,000 journeys on a typical weekday.

## Travel Centres

Travel Centres at Central Exchange, Harbourgate and Lumen Airport sell Glow cards and passes and
handle concession applications. They are open Monday to Saturday 08:00 to 20:00.

## Customer service

Our customer service team answers messages in the LCT app every day from 07:00 to 22:00. For
accessibility help, see the Accessibility page.

## Careers

We are recruiting tram drivers and station staff. Apprenticeships start every September.
"""


KNOWLEDGE_PAGES = {
    "fares.md": page_fares,
    "passes.md": page_passes,
    "schedules.md": page_schedules,
    "routes.md": page_routes,
    "accessibility.md": page_accessibility,
    "bikes.md": page_bikes,
    "lost_and_found.md": page_lost_and_found,
    "refunds.md": page_refunds,
    "pets_luggage.md": page_pets_luggage,
    "night_service.md": page_night_service,
    "about_lct.md": page_about,
}


def tidy_markdown(text: str) -> str:
    """Re-wrap every prose paragraph at 100 columns; headings and list items stay as they are."""
    blocks = []
    for block in text.strip().split("\n\n"):
        if block.startswith(("#", "- ")):
            blocks.append(block)
        else:
            flat = " ".join(block.split())
            blocks.append(textwrap.fill(flat, width=100, break_on_hyphens=False))
    return "\n\n".join(blocks) + "\n"


def check_answers_grounded(facts: list[Fact], knowledge: str) -> None:
    """Every number, time and proper name an answer states must appear in the knowledge base."""
    flat = " ".join(knowledge.split())
    numbers = set(re.findall(r"\d+(?:[.:]\d+)?", flat))
    for fact in facts:
        if not fact.derived:
            for number in re.findall(r"\d+(?:[.:]\d+)?", fact.answer):
                assert number in numbers, f"{number!r} not in knowledge base: {fact.answer}"
        for sentence in re.split(r"(?<=[.:;])\s+", fact.answer):
            rest = sentence.split(" ", 1)[1] if " " in sentence else ""  # skip the capital
            for name in re.findall(r"\b[A-Z][a-zA-Z-]+(?: [A-Z][a-zA-Z-]+)*", rest):
                assert name in flat, f"{name!r} not in knowledge base: {fact.answer}"


# --------------------------------------------------------------------------------------------
# Style: casual variants used to enlarge the training set
# --------------------------------------------------------------------------------------------

PREFIXES = ["hi, ", "hello! ", "hey ", "quick question: ", "sorry to bother you, ", "hi there, "]
SUFFIXES = [" thanks", " thank you!", " cheers", " pls", " please"]


def typo(text: str, rng: random.Random) -> str:
    """Swap two letters inside one longer lowercase word (names stay intact), as on a phone."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and w.islower() and len(w) >= 5]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def casual(text: str, rng: random.Random) -> str:
    """A casual variant that differs in words, not only in case or punctuation."""
    kind = rng.choice(["prefix", "suffix", "typo", "prefix+typo"])
    out = text
    if "typo" in kind:
        out = typo(out, rng)
    if "prefix" in kind:
        out = rng.choice(PREFIXES) + out[0].lower() + out[1:]
    if kind == "suffix":
        out = out.rstrip("?.!") + rng.choice(SUFFIXES)
    if rng.random() < 0.3:
        out = out.lower()
    return out


# --------------------------------------------------------------------------------------------
# Disjointness checks
# --------------------------------------------------------------------------------------------

_PUNCT = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCT).split())


def jaccard(a: str, b: str) -> float:
    sa, sb = set(normalise(a).split()), set(normalise(b).split())
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def golden_texts(example: dict) -> list[str]:
    texts = [example["instruction"]]
    if example["input"]:
        texts.append(f"{example['instruction']} {example['input']}")
    return texts


def check_disjoint(golden: list[dict], train: list[dict]) -> float:
    """Assert no training question equals or nearly equals a golden one; return the max Jaccard."""
    golden_q = [text for ex in golden for text in golden_texts(ex)]
    golden_norm = {normalise(q) for q in golden_q}
    assert len({normalise(ex["instruction"]) for ex in golden}) == len(golden), "golden repeats"
    train_q = [ex["messages"][0]["content"] for ex in train]
    assert len({normalise(q) for q in train_q}) == len(train_q), "training questions repeat"
    worst = 0.0
    for q in train_q:
        assert normalise(q) not in golden_norm, f"training question is in the golden set: {q}"
        for g in golden_q:
            score = jaccard(q, g)
            assert score < NEAR_DUP_JACCARD, f"near-duplicate ({score:.2f}): {q!r} ~ {g!r}"
            worst = max(worst, score)
    return worst


# --------------------------------------------------------------------------------------------
# Building the sets
# --------------------------------------------------------------------------------------------


def build_golden(facts: list[Fact], rng: random.Random) -> list[dict]:
    """Per topic: GOLDEN_HARD_PER_TOPIC hard examples, the rest easy, each from a distinct fact."""
    rows: list[tuple[Fact, Question, str]] = []
    for topic in TOPICS:
        topic_facts = [f for f in facts if f.topic == topic]
        with_input = [(f, q) for f in topic_facts for q in f.golden + f.golden_hard
                      if isinstance(q, tuple)]  # fmt: skip
        combined = [(f, q) for f in topic_facts if f.combines for q in f.golden
                    if not isinstance(q, tuple)]  # fmt: skip
        unusual = [(f, q) for f in topic_facts if not f.combines for q in f.golden_hard
                   if not isinstance(q, tuple)]  # fmt: skip
        rng.shuffle(combined)
        rng.shuffle(unusual)
        used: list[int] = []
        chosen: list[tuple[Fact, Question, str]] = []
        # Hard: anything with an input first, then alternate combined facts and odd phrasings.
        queue = list(with_input)
        for pair in zip(combined, unusual, strict=False):
            queue += list(pair)
        queue += combined[len(unusual) :] + unusual[len(combined) :]
        for fact, q in queue:
            if len(chosen) == GOLDEN_HARD_PER_TOPIC:
                break
            if id(fact) not in used:
                used.append(id(fact))
                chosen.append((fact, q, "hard"))
        assert len(chosen) == GOLDEN_HARD_PER_TOPIC, f"{topic}: too few hard golden questions"
        easy = [f for f in topic_facts if not f.combines and f.golden and id(f) not in used]
        rng.shuffle(easy)
        for fact in easy[: GOLDEN_PER_TOPIC - GOLDEN_HARD_PER_TOPIC]:
            q = rng.choice(fact.golden)
            chosen.append((fact, q, "easy"))
        assert len(chosen) == GOLDEN_PER_TOPIC, f"{topic}: too few golden facts"
        rows += chosen
    rng.shuffle(rows)
    golden = []
    for i, (fact, q, difficulty) in enumerate(rows, start=1):
        instruction, input_text = q if isinstance(q, tuple) else (q, "")
        golden.append(
            {
                "id": f"ts-{i:03d}",
                "instruction": instruction,
                "input": input_text,
                "output": answer_json(fact),
                "tags": [fact.topic, difficulty],
            }
        )
    return golden


def build_train(facts: list[Fact], rng: random.Random) -> list[dict]:
    """Per topic: every fact at least once (round robin), then casual variants to fill up."""
    rows: list[tuple[Fact, str]] = []
    for topic in TOPICS:
        topic_facts = [f for f in facts if f.topic == topic and f.train]
        rng.shuffle(topic_facts)
        pools = {id(f): rng.sample(f.train, len(f.train)) for f in topic_facts}
        candidates: list[tuple[Fact, str]] = []
        while any(pools.values()):  # round robin: every fact early, each phrasing once
            for fact in topic_facts:
                if pools[id(fact)]:
                    q = pools[id(fact)].pop()
                    candidates.append((fact, casual(q, rng) if rng.random() < 0.2 else q))
        base = [(f, q) for f in topic_facts for q in f.train]
        for _ in range(10):  # casual variants spread over all phrasings, if they run out
            for fact, q in rng.sample(base, len(base)):
                candidates.append((fact, casual(q, rng)))
        seen: set[str] = set()
        picked: list[tuple[Fact, str]] = []
        for fact, q in candidates:
            if normalise(q) not in seen and len(picked) < TRAIN_PER_TOPIC:
                seen.add(normalise(q))
                picked.append((fact, q))
        assert len(picked) == TRAIN_PER_TOPIC, f"{topic}: too few training phrasings"
        rows += picked
    rng.shuffle(rows)
    return [
        {
            "id": f"tr-{i:04d}",
            "messages": [
                {"role": "user", "content": q},
                {"role": "assistant", "content": answer_json(fact)},
            ],
            "tags": [fact.topic],
        }
        for i, (fact, q) in enumerate(rows, start=1)
    ]


GUARD = [
    ("What is the capital of France?", "Paris", "geography"),
    ("What is the capital of Japan?", "Tokyo", "geography"),
    ("What is the capital of Italy?", "Rome", "geography"),
    ("What is the capital of Germany?", "Berlin", "geography"),
    ("What is the capital of Spain?", "Madrid", "geography"),
    ("What is the largest ocean on Earth?", "Pacific", "geography"),
    ("On which continent is Egypt?", "Africa", "geography"),
    ("What is 2 + 3?", "5", "arithmetic"),
    ("What is 10 - 4?", "6", "arithmetic"),
    ("What is 3 times 4?", "12", "arithmetic"),
    ("What is 9 + 1?", "10", "arithmetic"),
    ("What is half of 10?", "5", "arithmetic"),
    ("What is 7 + 8?", "15", "arithmetic"),
    ("What is 20 divided by 4?", "5", "arithmetic"),
    ("What is the opposite of hot?", "cold", "language"),
    ("What is the opposite of up?", "down", "language"),
    ("What is the plural of cat?", "cats", "language"),
    ("Which letter comes after A in the alphabet?", "B", "language"),
    ("What is the opposite of big?", "small", "language"),
    ("What is the opposite of day?", "night", "language"),
    ("What colour is the sky on a clear day?", "blue", "science"),
    ("What colour is grass?", "green", "science"),
    ("What do bees make?", "honey", "science"),
    ("At what temperature in Celsius does water freeze?", "0", "science"),
    ("In which direction does the sun rise?", "east", "science"),
    ("What colour is snow?", "white", "science"),
    ("How many legs does a dog have?", "4", "common_sense"),
    ("How many days are there in a week?", "7", "common_sense"),
    ("How many months are there in a year?", "12", "common_sense"),
    ("Which animal says moo?", "cow", "common_sense"),
]


def build_guard() -> list[dict]:
    assert len(GUARD) == GUARD_SIZE
    return [
        {
            "id": f"gg-{i:03d}",
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ],
            "tags": [tag],
        }
        for i, (question, answer, tag) in enumerate(GUARD, start=1)
    ]


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def check_outputs(answers: list[str]) -> None:
    for text in answers:
        obj = json.loads(text)
        assert list(obj) == ["topic", "answer"], text
        assert obj["topic"] in TOPICS, text
        assert "\n" not in text, text


def main() -> None:
    rng = random.Random(0)
    facts = build_facts()

    knowledge = {name: tidy_markdown(render()) for name, render in KNOWLEDGE_PAGES.items()}
    check_answers_grounded(facts, "\n".join(knowledge.values()))

    golden = build_golden(facts, rng)
    train = build_train(facts, rng)
    guard = build_guard()
    check_outputs([ex["output"] for ex in golden])
    check_outputs([ex["messages"][1]["content"] for ex in train])
    worst = check_disjoint(golden, train)

    write_jsonl(GOLDEN_DIR / "transit_support.jsonl", golden)
    write_jsonl(GOLDEN_DIR / "general_guard.jsonl", guard)
    write_jsonl(HERE / "train.jsonl", train)
    KNOWLEDGE_DIR.mkdir(parents=True, exist_ok=True)
    for old in sorted(KNOWLEDGE_DIR.glob("*.md")):
        if old.name not in knowledge:
            old.unlink()
    for name, text in knowledge.items():
        (KNOWLEDGE_DIR / name).write_text(text, encoding="utf-8")

    golden_topics = Counter(ex["tags"][0] for ex in golden)
    golden_hard = Counter(ex["tags"][0] for ex in golden if ex["tags"][1] == "hard")
    train_topics = Counter(ex["tags"][0] for ex in train)
    print(f"{'topic':<16}{'golden':>8}{'(hard)':>8}{'train':>8}")
    for topic in TOPICS:
        print(
            f"{topic:<16}{golden_topics[topic]:>8}{golden_hard[topic]:>8}{train_topics[topic]:>8}"
        )
    print(f"{'total':<16}{len(golden):>8}{sum(golden_hard.values()):>8}{len(train):>8}")
    print(f"guard set: {len(guard)} examples; knowledge pages: {len(knowledge)}")
    print(f"facts: {len(facts)}; max train/golden token Jaccard: {worst:.2f}")


if __name__ == "__main__":
    main()
