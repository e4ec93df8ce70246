"""The vocabulary of synthetic catalogues: departments, subcategories, brands, product words.

Shared by the seeder (`catalog seed`) and the demo catalogue; plain data, no randomness here.
Words hold no tab, newline or backslash, so they go into COPY text rows as they are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subcategory:
    name: str
    nouns: tuple[str, ...]  # what a product of this subcategory is called
    price_range: tuple[float, float]  # USD, typical low and high


@dataclass(frozen=True)
class Department:
    name: str
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    # attribute name -> the values it takes; products carry two or three of them
    attributes: tuple[tuple[str, tuple[str | int, ...]], ...]
    features: tuple[str, ...]  # sentences for descriptions
    tags: tuple[str, ...]
    subcategories: tuple[Subcategory, ...]


# fmt: off
SERIES = (
    "Pro", "Max", "Lite", "Plus", "Air", "One", "Core", "Edge", "Prime", "Neo", "Flex", "Ultra",
    "Mini", "Go", "Studio", "Classic", "Sport", "Elite", "Nova", "Zen",
)

COMMON_TAGS = ("new", "bestseller", "eco-friendly", "limited-edition", "gift-idea", "sale")

COLORS: tuple[str | int, ...] = (
    "Black", "White", "Silver", "Graphite", "Navy", "Red", "Forest Green", "Sand", "Sky Blue",
    "Charcoal",
)
# fmt: on

# fmt: off
# A data table: one department to a screen reads better than one word to a line.
DEPARTMENTS: tuple[Department, ...] = (
    Department(
        name="Electronics",
        brands=("Voltaro", "Sonique", "Lumetra", "Kestrel Audio", "Nordhaven", "Pixelon",
                "Arcwave", "Tavola"),
        adjectives=("Wireless", "Noise-Cancelling", "Compact", "Smart", "Portable", "Hi-Res",
                    "Waterproof", "Slim"),
        attributes=(("color", COLORS), ("warranty_months", (12, 24, 36)),
                    ("connectivity", ("Bluetooth 5.3", "Wi-Fi 6", "USB-C", "Wired"))),
        features=("Up to 30 hours of battery life.", "Charges fully in under two hours.",
                  "Pairs with two devices at once.", "Firmware updates over the air.",
                  "Splash resistant to IPX4."),
        tags=("audio", "wireless", "smart-home", "travel", "gadgets"),
        subcategories=(
            Subcategory("Headphones", ("Headphones", "Earbuds", "Headset"), (19, 399)),
            Subcategory("Speakers", ("Speaker", "Soundbar", "Party Speaker"), (25, 599)),
            Subcategory("Televisions", ("4K TV", "OLED TV", "Smart TV"), (229, 2499)),
            Subcategory("Cameras", ("Mirrorless Camera", "Action Camera", "Webcam"), (49, 1899)),
            Subcategory("Smart Home", ("Smart Plug", "Video Doorbell", "Thermostat"), (15, 279)),
            Subcategory("Wearables", ("Smartwatch", "Fitness Tracker", "Smart Ring"), (39, 499)),
            Subcategory("Phone Accessories", ("Phone Case", "Power Bank", "Charging Stand"),
                        (9, 89)),
            Subcategory("Drones", ("Camera Drone", "Mini Drone", "FPV Drone"), (59, 1499)),
            Subcategory("Projectors", ("Projector", "Mini Projector", "Laser Projector"),
                        (99, 1999)),
            Subcategory("Radios", ("Radio", "DAB Radio", "Clock Radio"), (19, 199)),
        ),
    ),
    Department(
        name="Computers",
        brands=("Corvex", "Altura", "Bytewell", "Helix Systems", "Quorra", "Stellan", "Ferrix"),
        adjectives=("Lightweight", "Gaming", "Ergonomic", "Mechanical", "High-Speed",
                    "Backlit", "Silent", "Dual-Band"),
        attributes=(("color", COLORS), ("warranty_months", (12, 24, 36)),
                    ("interface", ("USB-C", "USB-A", "Thunderbolt 4", "PCIe 4.0", "HDMI 2.1"))),
        features=("Built for all-day use.", "Tool-free upgrades.",
                  "Works with Windows, macOS and Linux.", "Recycled aluminium chassis.",
                  "Backed by next-business-day support."),
        tags=("work-from-home", "gaming", "productivity", "storage", "peripherals"),
        subcategories=(
            Subcategory("Laptops", ("Laptop", "Ultrabook", "2-in-1 Laptop"), (399, 2999)),
            Subcategory("Desktops", ("Desktop PC", "Mini PC", "All-in-One PC"), (299, 3499)),
            Subcategory("Monitors", ("Monitor", "Curved Monitor", "Portable Monitor"), (99, 1299)),
            Subcategory("Keyboards", ("Keyboard", "Mechanical Keyboard", "Keypad"), (19, 229)),
            Subcategory("Mice", ("Mouse", "Trackball", "Trackpad"), (9, 149)),
            Subcategory("Storage", ("SSD", "External Drive", "USB Flash Drive"), (12, 599)),
            Subcategory("Networking", ("Router", "Mesh System", "Network Switch"), (29, 499)),
            Subcategory("Printers", ("Printer", "Label Printer", "Photo Printer"), (59, 699)),
            Subcategory("Components", ("Graphics Card", "Power Supply", "CPU Cooler"),
                        (29, 1899)),
            Subcategory("Tablets", ("Tablet", "E-Reader", "Drawing Tablet"), (79, 1299)),
        ),
    ),
    Department(
        name="Home & Kitchen",
        brands=("Casamora", "Hearthly", "Oakridge Home", "Brevilla", "Culina", "Marlowe & Finch",
                "Kitchara"),
        adjectives=("Stainless Steel", "Non-Stick", "Cast Iron", "Programmable", "Stackable",
                    "Insulated", "Ceramic", "Glass"),
        attributes=(("color", COLORS),
                    ("material", ("Stainless Steel", "Cast Iron", "Ceramic", "Glass", "Bamboo")),
                    ("capacity", ("0.5 L", "1 L", "1.7 L", "3 L", "5 L"))),
        features=("Dishwasher safe.", "Induction compatible.", "BPA free.",
                  "Easy to clean and store.", "Comes with a two-year guarantee."),
        tags=("kitchen", "cooking", "baking", "home-essentials", "coffee"),
        subcategories=(
            Subcategory("Cookware", ("Frying Pan", "Saucepan", "Dutch Oven"), (15, 349)),
            Subcategory("Small Appliances", ("Blender", "Air Fryer", "Toaster"), (25, 499)),
            Subcategory("Coffee & Tea", ("Espresso Machine", "Kettle", "Coffee Grinder"),
                        (19, 899)),
            Subcategory("Tableware", ("Dinner Set", "Mug Set", "Serving Bowl"), (9, 199)),
            Subcategory("Bedding", ("Duvet Cover", "Pillow", "Mattress Topper"), (15, 299)),
            Subcategory("Bath", ("Towel Set", "Bath Mat", "Shower Caddy"), (9, 129)),
            Subcategory("Storage & Organisation",
                        ("Storage Box", "Shelf Organiser", "Food Container"), (7, 99)),
            Subcategory("Cleaning", ("Vacuum Cleaner", "Steam Mop", "Robot Vacuum"), (29, 899)),
            Subcategory("Lighting", ("Table Lamp", "Floor Lamp", "LED Strip"), (12, 299)),
        ),
    ),
    Department(
        name="Furniture",
        brands=("Nordvik", "Atelier Lune", "Woodhollow", "Sitwell", "Forma Living", "Brandt & Co"),
        adjectives=("Solid Oak", "Modern", "Foldable", "Upholstered", "Adjustable",
                    "Mid-Century", "Minimalist", "Rattan"),
        attributes=(("color", COLORS),
                    ("material", ("Oak", "Walnut", "Pine", "Steel", "Velvet", "Linen")),
                    ("assembly_required", ("yes", "no"))),
        features=("Assembles in under 30 minutes.", "Solid wood from certified forests.",
                  "Stain-resistant fabric.", "Holds up to 120 kg.",
                  "Delivered flat-packed to your door."),
        tags=("living-room", "bedroom", "home-office", "small-spaces", "scandinavian"),
        subcategories=(
            Subcategory("Sofas", ("Sofa", "Loveseat", "Corner Sofa"), (299, 2499)),
            Subcategory("Chairs", ("Office Chair", "Armchair", "Dining Chair"), (49, 899)),
            Subcategory("Tables", ("Dining Table", "Coffee Table", "Side Table"), (59, 1499)),
            Subcategory("Desks", ("Standing Desk", "Writing Desk", "Corner Desk"), (99, 1199)),
            Subcategory("Beds", ("Bed Frame", "Bunk Bed", "Daybed"), (149, 1999)),
            Subcategory("Shelving", ("Bookcase", "Wall Shelf", "Display Cabinet"), (29, 799)),
            Subcategory("Wardrobes", ("Wardrobe", "Chest of Drawers", "Clothes Rail"), (49, 1299)),
        ),
    ),
    Department(
        name="Garden & Outdoor",
        brands=("Greenfold", "Terrafirm", "Willowbrook", "Solstice Outdoor", "Fernway",
                "Brightfield"),
        adjectives=("Weatherproof", "Solar", "Cordless", "Heavy-Duty", "Collapsible",
                    "Galvanised", "UV-Resistant", "Lightweight"),
        attributes=(("color", COLORS), ("material", ("Steel", "Aluminium", "Teak", "Resin")),
                    ("power_source", ("Battery", "Solar", "Mains", "Manual"))),
        features=("Rated for year-round outdoor use.", "Rust-proof finish.",
                  "Folds flat for winter storage.", "Runs for 45 minutes on one charge.",
                  "Made from recycled plastics."),
        tags=("garden", "patio", "outdoor-living", "bbq", "lawn-care"),
        subcategories=(
            Subcategory("Garden Tools", ("Pruning Shears", "Garden Fork", "Trowel Set"), (9, 129)),
            Subcategory("Lawn Mowers", ("Lawn Mower", "Robot Mower", "Grass Trimmer"), (79, 1499)),
            Subcategory("Barbecues", ("Gas Barbecue", "Charcoal Grill", "Pizza Oven"), (49, 1299)),
            Subcategory("Patio Furniture", ("Garden Bench", "Patio Set", "Sun Lounger"),
                        (59, 1499)),
            Subcategory("Planters", ("Planter", "Raised Bed", "Window Box"), (9, 249)),
            Subcategory("Outdoor Lighting", ("Solar Lantern", "Path Light", "Festoon Lights"),
                        (9, 149)),
            Subcategory("Watering", ("Garden Hose", "Sprinkler", "Water Butt"), (9, 199)),
        ),
    ),
    Department(
        name="Sports & Fitness",
        brands=("Stridex", "Peakform", "Atlas Athletics", "Velocita", "Summit Gear", "Kinetic",
                "Trailborn"),
        adjectives=("Breathable", "Adjustable", "Anti-Slip", "Lightweight", "Professional",
                    "Quick-Dry", "Reinforced", "Thermal"),
        attributes=(("color", COLORS), ("size", ("XS", "S", "M", "L", "XL")),
                    ("weight_kg", (1, 2, 5, 10, 20))),
        features=("Tested by professional athletes.", "Sweat-wicking fabric.",
                  "Packs down small for travel.", "Grippy surface for safe workouts.",
                  "Comes with a carry bag."),
        tags=("fitness", "running", "cycling", "camping", "yoga"),
        subcategories=(
            Subcategory("Fitness Equipment", ("Dumbbell Set", "Kettlebell", "Resistance Bands"),
                        (12, 699)),
            Subcategory("Yoga", ("Yoga Mat", "Yoga Block", "Meditation Cushion"), (9, 129)),
            Subcategory("Cycling", ("Bike Helmet", "Bike Light", "Road Bike"), (15, 2499)),
            Subcategory("Running", ("Running Vest", "Hydration Pack", "Running Belt"), (12, 149)),
            Subcategory("Camping", ("Tent", "Sleeping Bag", "Camping Stove"), (19, 799)),
            Subcategory("Team Sports", ("Football", "Basketball", "Goal Net"), (12, 299)),
            Subcategory("Water Sports", ("Paddle Board", "Wetsuit", "Swim Goggles"), (9, 999)),
            Subcategory("Racket Sports", ("Tennis Racket", "Padel Racket", "Badminton Set"),
                        (15, 299)),
        ),
    ),
    Department(
        name="Clothing",
        brands=("Harlow & Reed", "Northline", "Urbanite", "Maison Clair", "Driftwood Apparel",
                "Kinfolk Supply"),
        adjectives=("Slim-Fit", "Organic Cotton", "Relaxed", "Merino", "Waterproof", "Linen",
                    "Recycled", "Classic"),
        attributes=(("color", COLORS), ("size", ("XS", "S", "M", "L", "XL", "XXL")),
                    ("material", ("Cotton", "Merino Wool", "Linen", "Polyester", "Denim"))),
        features=("Machine washable at 30 degrees.", "Cut for a relaxed fit.",
                  "Made from organic cotton.", "Fair-trade certified.",
                  "Free returns within 30 days."),
        tags=("menswear", "womenswear", "basics", "outerwear", "sustainable"),
        subcategories=(
            Subcategory("T-Shirts", ("T-Shirt", "Polo Shirt", "Long-Sleeve Tee"), (9, 59)),
            Subcategory("Jackets", ("Rain Jacket", "Puffer Jacket", "Denim Jacket"), (39, 399)),
            Subcategory("Jeans", ("Jeans", "Chinos", "Cargo Trousers"), (29, 149)),
            Subcategory("Dresses", ("Midi Dress", "Wrap Dress", "Shirt Dress"), (29, 199)),
            Subcategory("Knitwear", ("Jumper", "Cardigan", "Hoodie"), (25, 189)),
            Subcategory("Activewear", ("Leggings", "Sports Bra", "Training Shorts"), (15, 89)),
            Subcategory("Accessories", ("Scarf", "Beanie", "Leather Belt"), (9, 79)),
        ),
    ),
    Department(
        name="Shoes",
        brands=("Strada", "Cobblestone", "Fleetfoot", "Alpen Trek", "Marin & Vale"),
        adjectives=("Leather", "Waterproof", "Cushioned", "Vegan", "Lightweight", "Suede",
                    "Slip-On", "Wide-Fit"),
        attributes=(("color", COLORS), ("eu_size", (36, 37, 38, 39, 40, 41, 42, 43, 44, 45)),
                    ("material", ("Leather", "Suede", "Canvas", "Mesh", "Rubber"))),
        features=("Cushioned insole for all-day comfort.", "Grippy rubber outsole.",
                  "Resoleable Goodyear welt.", "Breathable mesh upper.",
                  "Half sizes available."),
        tags=("footwear", "running", "hiking", "everyday", "formal"),
        subcategories=(
            Subcategory("Sneakers", ("Sneakers", "Trainers", "Skate Shoes"), (39, 189)),
            Subcategory("Boots", ("Chelsea Boots", "Hiking Boots", "Work Boots"), (59, 299)),
            Subcategory("Running Shoes", ("Running Shoes", "Trail Shoes", "Racing Flats"),
                        (59, 249)),
            Subcategory("Sandals", ("Sandals", "Flip-Flops", "Slides"), (12, 119)),
            Subcategory("Formal Shoes", ("Oxford Shoes", "Loafers", "Derby Shoes"), (59, 349)),
        ),
    ),
    Department(
        name="Beauty & Personal Care",
        brands=("Lumiere", "Botanica Pure", "Velora", "Aquene", "Saffron & Sage", "Dermiq"),
        adjectives=("Hydrating", "Fragrance-Free", "Organic", "Vegan", "Travel-Size",
                    "Rechargeable", "Gentle", "Daily"),
        attributes=(("volume_ml", (30, 50, 100, 200, 500)),
                    ("skin_type", ("All", "Dry", "Oily", "Sensitive", "Combination")),
                    ("scent", ("Unscented", "Citrus", "Lavender", "Cedar", "Rose"))),
        features=("Dermatologically tested.", "Cruelty-free and vegan.",
                  "Free from parabens and sulphates.", "Recyclable packaging.",
                  "Suitable for sensitive skin."),
        tags=("skincare", "haircare", "grooming", "wellness", "vegan"),
        subcategories=(
            Subcategory("Skincare", ("Face Serum", "Moisturiser", "Cleanser"), (7, 129)),
            Subcategory("Haircare", ("Shampoo", "Conditioner", "Hair Oil"), (5, 59)),
            Subcategory("Fragrance", ("Eau de Parfum", "Eau de Toilette", "Body Mist"), (15, 199)),
            Subcategory("Shaving & Grooming", ("Electric Shaver", "Beard Trimmer", "Razor"),
                        (9, 299)),
            Subcategory("Oral Care", ("Electric Toothbrush", "Water Flosser", "Toothpaste"),
                        (3, 249)),
            Subcategory("Makeup", ("Lipstick", "Foundation", "Mascara"), (6, 69)),
        ),
    ),
    Department(
        name="Toys & Games",
        brands=("Playforge", "Tinker Toys Co", "Wonderbox", "Starlit Games", "Brickhaven",
                "Puzzlewright"),
        adjectives=("Educational", "Wooden", "Interactive", "Classic", "Deluxe",
                    "Glow-in-the-Dark", "Magnetic", "Collectible"),
        attributes=(("age_range", ("0-2", "3-5", "6-8", "8-12", "12+")),
                    ("players", ("1", "2", "2-4", "2-6", "4+")),
                    ("pieces", (12, 50, 100, 500, 1000))),
        features=("Encourages creative play.", "Meets EU toy safety standards.",
                  "Batteries included.", "Made from sustainable wood.",
                  "Perfect for family game night."),
        tags=("kids", "family", "stem", "puzzles", "board-games"),
        subcategories=(
            Subcategory("Board Games", ("Board Game", "Strategy Game", "Party Game"), (12, 99)),
            Subcategory("Puzzles", ("Jigsaw Puzzle", "3D Puzzle", "Puzzle Cube"), (7, 59)),
            Subcategory("Building Sets", ("Building Set", "Construction Kit", "Marble Run"),
                        (15, 249)),
            Subcategory("Dolls & Figures", ("Action Figure", "Doll", "Playset"), (9, 119)),
            Subcategory("Outdoor Toys", ("Scooter", "Trampoline", "Water Blaster"), (12, 399)),
            Subcategory("STEM Toys", ("Robot Kit", "Science Kit", "Coding Robot"), (19, 199)),
        ),
    ),
    Department(
        name="Office Supplies",
        brands=("Scriptum", "Paperwell", "Inkhorn", "Deskmate", "Ledgerline"),
        adjectives=("Refillable", "Recycled", "A4", "A5", "Premium", "Heavy-Duty", "Compact",
                    "Colour-Coded"),
        attributes=(("color", COLORS), ("pack_size", (1, 5, 10, 12, 50, 100)),
                    ("paper_size", ("A3", "A4", "A5", "Letter"))),
        features=("Acid-free paper.", "Smudge-proof ink.", "FSC-certified materials.",
                  "Refills sold separately.", "Bulk pricing for offices."),
        tags=("stationery", "back-to-school", "office", "planning", "writing"),
        subcategories=(
            Subcategory("Notebooks", ("Notebook", "Planner", "Sketchbook"), (3, 39)),
            Subcategory("Pens & Pencils", ("Fountain Pen", "Gel Pen Set", "Mechanical Pencil"),
                        (2, 149)),
            Subcategory("Desk Accessories", ("Desk Organiser", "Monitor Stand", "Desk Mat"),
                        (9, 99)),
            Subcategory("Filing", ("Lever Arch File", "Document Wallet", "Filing Cabinet"),
                        (3, 249)),
            Subcategory("Paper", ("Copy Paper", "Sticky Notes", "Envelopes"), (2, 49)),
        ),
    ),
    Department(
        name="Pet Supplies",
        brands=("Pawsome", "Whiskerly", "Furrow & Tail", "Barkley", "Nibble Naturals"),
        adjectives=("Grain-Free", "Orthopaedic", "Chew-Proof", "Washable", "Self-Cleaning",
                    "Reflective", "Natural", "Automatic"),
        attributes=(("pet", ("Dog", "Cat", "Rabbit", "Bird", "Fish")),
                    ("size", ("S", "M", "L", "XL")), ("weight_kg", (1, 2, 5, 10, 15))),
        features=("Vet recommended.", "Machine-washable cover.", "No artificial colours.",
                  "Tough enough for heavy chewers.", "Made in small batches."),
        tags=("dogs", "cats", "pet-food", "pet-toys", "grooming"),
        subcategories=(
            Subcategory("Dog Food", ("Dry Dog Food", "Wet Dog Food", "Dog Treats"), (4, 89)),
            Subcategory("Cat Food", ("Dry Cat Food", "Wet Cat Food", "Cat Treats"), (3, 79)),
            Subcategory("Beds & Furniture", ("Dog Bed", "Cat Tree", "Pet Blanket"), (15, 249)),
            Subcategory("Leads & Collars", ("Dog Lead", "Harness", "Collar"), (7, 59)),
            Subcategory("Pet Toys", ("Chew Toy", "Cat Teaser", "Puzzle Feeder"), (4, 39)),
            Subcategory("Aquariums", ("Aquarium", "Aquarium Filter", "Fish Tank Heater"),
                        (12, 399)),
        ),
    ),
    Department(
        name="Tools & Hardware",
        brands=("Ironclad", "Torqix", "Brackenridge", "Forgeline", "Ampere Tools", "Steadfast"),
        adjectives=("Cordless", "Brushless", "Heavy-Duty", "Magnetic", "Precision",
                    "Professional", "Compact", "Insulated"),
        attributes=(("voltage", ("12 V", "18 V", "20 V", "36 V", "230 V")),
                    ("warranty_months", (12, 24, 36, 60)),
                    ("includes_battery", ("yes", "no"))),
        features=("Brushless motor for longer runtime.", "Comes in a hard carry case.",
                  "Compatible with the whole battery range.", "Lifetime warranty on hand tools.",
                  "Rubberised grip."),
        tags=("diy", "power-tools", "hand-tools", "workshop", "renovation"),
        subcategories=(
            Subcategory("Power Tools", ("Drill Driver", "Impact Driver", "Circular Saw"),
                        (39, 499)),
            Subcategory("Hand Tools", ("Screwdriver Set", "Hammer", "Socket Set"), (7, 199)),
            Subcategory("Measuring", ("Laser Level", "Tape Measure", "Stud Finder"), (7, 249)),
            Subcategory("Tool Storage", ("Tool Box", "Tool Chest", "Tool Bag"), (15, 599)),
            Subcategory("Fixings", ("Screw Assortment", "Wall Plug Kit", "Anchor Set"), (3, 49)),
            Subcategory("Safety", ("Safety Glasses", "Work Gloves", "Ear Defenders"), (4, 69)),
        ),
    ),
    Department(
        name="Automotive",
        brands=("Roadmaster", "Gearline", "Autovia", "Chromex", "Highway Pro"),
        adjectives=("Universal", "Heavy-Duty", "Portable", "Digital", "All-Weather",
                    "Quick-Fit", "Compact", "LED"),
        attributes=(("fits", ("Universal", "Cars", "SUVs", "Vans", "Motorcycles")),
                    ("color", COLORS), ("warranty_months", (6, 12, 24))),
        features=("Fits most cars, vans and SUVs.", "Installs in minutes, no tools needed.",
                  "Works from the 12 V socket.", "Weatherproof to minus 30 degrees.",
                  "Includes a storage pouch."),
        tags=("car-care", "road-trip", "safety", "accessories", "maintenance"),
        subcategories=(
            Subcategory("Car Care", ("Car Wash Kit", "Polish", "Pressure Washer"), (7, 299)),
            Subcategory("Car Electronics", ("Dash Cam", "Car Charger", "Phone Mount"), (9, 249)),
            Subcategory("Tyres & Wheels", ("Tyre Inflator", "Wheel Brace", "Tyre Gauge"),
                        (9, 149)),
            Subcategory("Interior", ("Seat Cover Set", "Floor Mats", "Boot Organiser"), (12, 149)),
            Subcategory("Tools & Equipment", ("Jump Starter", "Trolley Jack", "Tow Rope"),
                        (15, 249)),
        ),
    ),
)
# fmt: on

# Stock level mix of generated products: (share, lowest, highest), shares summing to 1.
STOCK_MIX: tuple[tuple[float, int, int], ...] = (
    (0.05, 0, 0),  # out of stock
    (0.05, 1, 5),  # critical
    (0.06, 6, 10),  # low
    (0.84, 11, 500),  # in stock
)

# Status mix of generated products: (share, status).
STATUS_MIX: tuple[tuple[float, str], ...] = ((0.95, "active"), (0.03, "draft"), (0.02, "archived"))
