"""A generated demo catalog, so a fresh shop is not empty.

Deterministic for a seed: the same products, prices and stock on every run,
which keeps screenshots and benchmarks comparable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, select

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.models import Product
from storefleet.runtime.catalog.service import CatalogService


@dataclass(frozen=True)
class Leaf:
    slug: str
    name: str
    nouns: tuple[str, ...]
    price: tuple[int, int]  # minor units
    options: tuple[str, tuple[str, ...]]


TREE: dict[tuple[str, str], list[Leaf]] = {
    ("electronics", "Electronics"): [
        Leaf(
            "headphones",
            "Headphones",
            ("Headphones", "Earbuds", "Headset"),
            (1999, 34999),
            ("Color", ("Black", "White", "Blue")),
        ),
        Leaf(
            "speakers",
            "Speakers",
            ("Speaker", "Soundbar", "Bookshelf Speakers"),
            (2999, 59999),
            ("Color", ("Black", "Grey")),
        ),
        Leaf(
            "laptops",
            "Laptops",
            ("Laptop", "Notebook", "Ultrabook"),
            (39999, 249999),
            ("Memory", ("8 GB", "16 GB", "32 GB")),
        ),
        Leaf(
            "keyboards",
            "Keyboards",
            ("Keyboard", "Mechanical Keyboard"),
            (2499, 19999),
            ("Layout", ("US", "UK", "DE")),
        ),
        Leaf(
            "monitors",
            "Monitors",
            ("Monitor", "Display"),
            (12999, 89999),
            ("Size", ("24 in", "27 in", "32 in")),
        ),
        Leaf(
            "cameras",
            "Cameras",
            ("Camera", "Action Camera", "Mirrorless Camera"),
            (14999, 199999),
            ("Kit", ("Body only", "With lens")),
        ),
    ],
    ("home-kitchen", "Home & Kitchen"): [
        Leaf(
            "cookware",
            "Cookware",
            ("Frying Pan", "Saucepan", "Dutch Oven", "Wok"),
            (1499, 19999),
            ("Size", ("20 cm", "24 cm", "28 cm")),
        ),
        Leaf(
            "coffee",
            "Coffee & Tea",
            ("Coffee Grinder", "Espresso Machine", "Kettle", "Teapot"),
            (1999, 79999),
            ("Color", ("Steel", "Black", "Red")),
        ),
        Leaf(
            "lighting",
            "Lighting",
            ("Desk Lamp", "Floor Lamp", "Pendant Light"),
            (1999, 29999),
            ("Finish", ("Brass", "Matte Black", "White")),
        ),
        Leaf(
            "bedding",
            "Bedding",
            ("Duvet Cover", "Pillow", "Blanket", "Sheet Set"),
            (1499, 14999),
            ("Size", ("Single", "Double", "King")),
        ),
    ],
    ("fashion", "Fashion"): [
        Leaf(
            "shoes",
            "Shoes",
            ("Running Shoes", "Sneakers", "Boots", "Sandals"),
            (2999, 24999),
            ("Size", ("38", "40", "42", "44")),
        ),
        Leaf(
            "jackets",
            "Jackets",
            ("Rain Jacket", "Down Jacket", "Denim Jacket"),
            (4999, 39999),
            ("Size", ("S", "M", "L", "XL")),
        ),
        Leaf(
            "shirts",
            "Shirts",
            ("T-Shirt", "Oxford Shirt", "Polo Shirt", "Hoodie"),
            (1499, 8999),
            ("Size", ("S", "M", "L", "XL")),
        ),
        Leaf(
            "bags",
            "Bags",
            ("Backpack", "Tote Bag", "Messenger Bag", "Duffel Bag"),
            (2499, 29999),
            ("Color", ("Black", "Olive", "Navy")),
        ),
    ],
    ("sports", "Sports & Outdoors"): [
        Leaf(
            "camping",
            "Camping",
            ("Tent", "Sleeping Bag", "Camping Stove", "Headlamp"),
            (1999, 49999),
            ("Capacity", ("1 person", "2 person", "4 person")),
        ),
        Leaf(
            "fitness",
            "Fitness",
            ("Yoga Mat", "Dumbbell Set", "Kettlebell", "Jump Rope"),
            (999, 29999),
            ("Weight", ("Light", "Medium", "Heavy")),
        ),
        Leaf(
            "cycling",
            "Cycling",
            ("Bike Helmet", "Bike Light", "Cycling Gloves", "Water Bottle"),
            (999, 19999),
            ("Size", ("S", "M", "L")),
        ),
    ],
}

BRANDS = [
    "Acme",
    "Nordwind",
    "Lumen",
    "Kestrel",
    "Obsidian",
    "Helio",
    "Tandem",
    "Fjord",
    "Saffron",
    "Vertex",
    "Mariner",
    "Quill",
    "Ember",
    "Cobalt",
    "Juniper",
    "Atlas",
    "Pebble",
    "Orbit",
    "Granite",
    "Willow",
]
ADJECTIVES = [
    "Classic",
    "Pro",
    "Ultra",
    "Compact",
    "Wireless",
    "Premium",
    "Everyday",
    "Travel",
    "Studio",
    "Sport",
    "Eco",
    "Deluxe",
    "Lite",
    "Max",
    "Urban",
    "Alpine",
]
MATERIALS = ["Aluminium", "Cotton", "Steel", "Recycled Plastic", "Wool", "Leather", "Bamboo"]


def generate(
    count: int = 600, seed: int = 7, currency: str = "EUR"
) -> tuple[list[s.BrandIn], list[s.CategoryIn], list[s.ProductIn]]:
    rng = random.Random(seed)
    brands = [s.BrandIn(slug=name.lower(), name=name) for name in BRANDS]
    categories: list[s.CategoryIn] = []
    leaves: list[Leaf] = []
    for position, ((slug, name), children) in enumerate(TREE.items()):
        categories.append(
            s.CategoryIn(slug=slug, name=name, position=position, description=f"Shop {name}.")
        )
        for child_position, leaf in enumerate(children):
            categories.append(
                s.CategoryIn(
                    slug=leaf.slug,
                    name=leaf.name,
                    parent=slug,
                    position=child_position,
                    description=f"{leaf.name} from brands you trust.",
                )
            )
            leaves.append(leaf)
    products: list[s.ProductIn] = []
    seen: set[str] = set()
    index = 0
    while len(products) < count:
        index += 1
        leaf = leaves[index % len(leaves)]
        brand = rng.choice(BRANDS)
        noun = rng.choice(leaf.nouns)
        adjective = rng.choice(ADJECTIVES)
        model = rng.randint(100, 999)
        name = f"{brand} {adjective} {noun} {model}"
        slug = "-".join(name.lower().replace("&", "and").split())
        if slug in seen:
            continue
        seen.add(slug)
        low, high = leaf.price
        base = rng.randrange(low, high, 100) + 99
        material = rng.choice(MATERIALS)
        option_name, option_values = leaf.options
        chosen = rng.sample(option_values, k=rng.randint(1, len(option_values)))
        variants = []
        for number, value in enumerate(chosen):
            stock = 0 if rng.random() < 0.08 else rng.randint(1, 80)
            variants.append(
                s.VariantIn(
                    sku=f"{brand[:3].upper()}-{model}-{index:05d}-{number}",
                    name=value,
                    attributes={option_name.lower(): value},
                    price_minor=base + number * rng.choice((0, 500, 1000)),
                    currency=currency,
                    stock=stock,
                )
            )
        products.append(
            s.ProductIn(
                slug=slug,
                name=name,
                description=(
                    f"The {name} is a {adjective.lower()} {noun.lower()} by {brand}, "
                    f"made with {material.lower()}. Built for every day and backed by "
                    f"a two-year warranty."
                ),
                brand=brand.lower(),
                category=leaf.slug,
                attributes={"material": material, "style": adjective},
                images=[s.ImageIn(url=f"/img/{slug}.svg", alt=name)],
                variants=variants,
            )
        )
    return brands, categories, products


async def import_demo(
    service: CatalogService, count: int = 600, seed: int = 7, orders: int = 400
) -> int:
    """Load the demo catalog; a catalog that already has products is left alone."""
    async with service.db.read() as session:
        existing = (await session.execute(select(func.count(Product.id)))).scalar_one()
    if existing:
        return 0
    brands, categories, products = generate(count, seed, service.currency)
    for brand in brands:
        await service.admin.create_brand(brand)
    for category in categories:
        await service.admin.create_category(category)
    ids: dict[str, list[int]] = {}
    for start in range(0, len(products), 100):
        chunk = products[start : start + 100]
        for product, product_id in zip(
            chunk, await service.admin.create_products(chunk), strict=True
        ):
            ids.setdefault(product.category, []).append(product_id)
    # Synthetic order history, so "customers also bought" has something to say.
    rng = random.Random(seed + 1)
    groups = [leaf_ids for leaf_ids in ids.values() if len(leaf_ids) > 1]
    pool = [product_id for leaf_ids in ids.values() for product_id in leaf_ids]
    for number in range(orders):
        group = rng.choice(groups)
        basket = [*rng.sample(group[:12], k=min(2, len(group[:12]))), rng.choice(pool)]
        await service.recommendations.record_order(f"demo-order-{seed}-{number}", basket)
    return len(products)
