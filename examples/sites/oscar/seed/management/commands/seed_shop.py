"""Fill the shop with realistic data through django-oscar's own APIs.

``manage.py seed_shop [--products N] [--customers N] [--orders N] [--seed S]``: a partner, product
classes with typed attributes, a category tree (create_from_breadcrumbs), products with images,
stock records and prices, customers with addresses, baskets checked out into orders by Oscar's
OrderCreator (with its order lines, prices, events and status history), reviews, an offer with a
range, a voucher, wish lists and flat pages. Run once on a fresh database.
"""

import datetime
import io
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.flatpages.models import FlatPage
from django.contrib.sites.models import Site
from django.core.files.images import ImageFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from oscar.apps.catalogue.categories import create_from_breadcrumbs
from oscar.apps.checkout.calculators import OrderTotalCalculator
from oscar.apps.order.utils import OrderCreator
from oscar.apps.partner.strategy import Default
from oscar.apps.shipping.methods import FixedPrice
from oscar.core.loading import get_model
from PIL import Image as PillowImage

Basket = get_model("basket", "Basket")
Benefit = get_model("offer", "Benefit")
Condition = get_model("offer", "Condition")
ConditionalOffer = get_model("offer", "ConditionalOffer")
Country = get_model("address", "Country")
Partner = get_model("partner", "Partner")
Product = get_model("catalogue", "Product")
ProductAttribute = get_model("catalogue", "ProductAttribute")
ProductCategory = get_model("catalogue", "ProductCategory")
ProductClass = get_model("catalogue", "ProductClass")
ProductImage = get_model("catalogue", "ProductImage")
ProductReview = get_model("reviews", "ProductReview")
Range = get_model("offer", "Range")
ShippingAddress = get_model("order", "ShippingAddress")
StockRecord = get_model("partner", "StockRecord")
UserAddress = get_model("address", "UserAddress")
Voucher = get_model("voucher", "Voucher")
WishList = get_model("wishlists", "WishList")

CATEGORIES = (
    "Bücher > Belletristik > Krimi", "Bücher > Belletristik > Science-Fiction", "Bücher > Sachbuch > Geschichte",
    "Bücher > Kinderbuch", "Βιβλία > Ποίηση", "本 > 漫画", "Kleidung > T-Shirts", "Kleidung > Taschen",
)
WORDS = (
    "Der Die Das Geheimnis Schatten Nacht Stadt Reise Meer Zeit Haus Garten Krieg Frieden Liebe "
    "Mond Stern Ελπίδα Θάλασσα 月 海 café Zürich Łódź naïve Øresund Straße Brücke"
).split()
FIRST = ("Jürgen", "Ελένη", "花子", "Zoë", "Łukasz", "Ana", "Øystein", "Siobhán", "José", "Anna")
LAST = ("Müller", "Παπαδοπούλου", "山田", "O'Brien", "Wójcik", "García", "Ødegård", "Ní Bhriain", "Núñez", "Schmidt")
CITIES = (("Berlin", "10115"), ("München", "80331"), ("Köln", "50667"), ("Zürich", "8001"), ("Wien", "1010"))


def title(rng, words=3):
    return " ".join(rng.choice(WORDS) for _unused in range(words))


def png(rng):
    image = PillowImage.new("RGB", (80, 120), tuple(rng.randrange(256) for _unused in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Create a catalogue, customers, orders, reviews, offers and pages through Oscar's APIs."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=200)
        parser.add_argument("--customers", type=int, default=40)
        parser.add_argument("--orders", type=int, default=120)
        parser.add_argument("--seed", type=int, default=16)

    def handle(self, *args, **options):
        if Product.objects.exists():
            raise CommandError("the shop is already seeded (products exist): start from a fresh database")
        rng = random.Random(options["seed"])
        with transaction.atomic():
            countries = self.countries()
            products = self.catalogue(rng, options["products"])
            customers = self.customers(rng, options["customers"], countries)
            self.marketing(rng, products, customers)
        orders = [self.order(rng, number, products, customers) for number in range(1, options["orders"] + 1)]
        self.stdout.write(
            "seed_shop: products=%d customers=%d orders=%d" % (len(products), len(customers), len(orders))
        )

    @staticmethod
    def countries():
        rows = (("DE", "DEU", "276", "Deutschland"), ("AT", "AUT", "040", "Österreich"),
                ("CH", "CHE", "756", "Schweiz"), ("GR", "GRC", "300", "Ελλάδα"), ("JP", "JPN", "392", "日本"))
        return [
            Country.objects.create(iso_3166_1_a2=a2, iso_3166_1_a3=a3, iso_3166_1_numeric=num, name=name,
                                   printable_name=name, is_shipping_country=True, display_order=index)
            for index, (a2, a3, num, name) in enumerate(rows)
        ]

    def catalogue(self, rng, count):
        partner = Partner.objects.create(name="Hauptlager GmbH & Co. KG")
        book = ProductClass.objects.create(name="Buch", requires_shipping=True, track_stock=True)
        shirt = ProductClass.objects.create(name="T-Shirt", requires_shipping=True, track_stock=True)
        for code, name, kind in (("isbn", "ISBN", "text"), ("pages", "Seiten", "integer"),
                                 ("published", "Erschienen", "date"), ("ebook", "E-Book", "boolean"),
                                 ("weight", "Gewicht", "float")):
            ProductAttribute.objects.create(product_class=book, code=code, name=name, type=kind)
        ProductAttribute.objects.create(product_class=shirt, code="size", name="Größe", type="text")
        categories = [create_from_breadcrumbs(path) for path in CATEGORIES]
        products = []
        for number in range(1, count + 1):
            is_book = number % 5 != 0
            product = Product.objects.create(
                product_class=book if is_book else shirt, title="%s %d" % (title(rng), number),
                upc="UPC%08d" % number, description="<p>%s</p>" % title(rng, 40), is_discountable=number % 7 != 0,
            )
            if is_book:
                product.attr.isbn = "978-3-%05d-%03d-%d" % (number, number % 997, number % 10)
                product.attr.pages = rng.randrange(40, 1200)
                product.attr.published = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(27000))
                product.attr.ebook = number % 3 == 0
                product.attr.weight = round(rng.uniform(0.1, 2.5), 3)
            else:
                product.attr.size = rng.choice(("S", "M", "L", "XL"))
            product.save()
            ProductCategory.objects.create(product=product, category=categories[number % len(categories)])
            StockRecord.objects.create(
                product=product, partner=partner, partner_sku="SKU-%05d" % number, price_currency="EUR",
                price=Decimal(rng.randrange(199, 9999)) / 100, num_in_stock=rng.randrange(0, 500),
                low_stock_threshold=5,
            )
            if number % 4 == 0:
                ProductImage.objects.create(
                    product=product, display_order=0,
                    original=ImageFile(io.BytesIO(png(rng)), name="produkt-%04d.png" % number),
                )
            products.append(product)
        return products

    @staticmethod
    def customers(rng, count, countries):
        User = get_user_model()
        User.objects.create_superuser("admin", "admin@example.com", "admin-%d" % rng.randrange(10**9))
        customers = []
        for number in range(1, count + 1):
            first, last = FIRST[number % len(FIRST)], LAST[number % len(LAST)]
            user = User.objects.create_user("kunde%03d" % number, "kunde%03d@example.com" % number, None,
                                            first_name=first, last_name=last)
            city, postcode = CITIES[number % len(CITIES)]
            UserAddress.objects.create(
                user=user, first_name=first, last_name=last, line1="Hauptstraße %d" % number, line4=city,
                postcode=postcode, country=countries[number % 3], phone_number="+4930123456%02d" % (number % 100),
                is_default_for_shipping=True, is_default_for_billing=True,
            )
            customers.append(user)
        return customers

    @staticmethod
    def marketing(rng, products, customers):
        books = Range.objects.create(name="Alle Bücher", includes_all_products=False)
        for product in products[::3]:
            books.add_product(product)
        condition = Condition.objects.create(range=books, type=Condition.COUNT, value=2)
        benefit = Benefit.objects.create(range=books, type=Benefit.PERCENTAGE, value=Decimal("10.00"))
        ConditionalOffer.objects.create(name="10 % auf Bücher ab 2 Stück", offer_type=ConditionalOffer.SITE,
                                        condition=condition, benefit=benefit)
        voucher_condition = Condition.objects.create(range=books, type=Condition.VALUE, value=Decimal("30.00"))
        voucher_benefit = Benefit.objects.create(range=books, type=Benefit.FIXED, value=Decimal("5.00"))
        voucher_offer = ConditionalOffer.objects.create(
            name="Gutschein FRÜHLING", offer_type=ConditionalOffer.VOUCHER, condition=voucher_condition,
            benefit=voucher_benefit)
        voucher = Voucher.objects.create(name="Frühling", code="FRUEHLING25", usage=Voucher.MULTI_USE,
                                         start_datetime=timezone.now() - datetime.timedelta(days=30),
                                         end_datetime=timezone.now() + datetime.timedelta(days=365))
        voucher.offers.add(voucher_offer)
        for index, product in enumerate(products[::2]):
            ProductReview.objects.create(
                product=product, user=customers[index % len(customers)], score=rng.randrange(0, 6),
                title=title(rng, 4), body=title(rng, 30), status=ProductReview.APPROVED if index % 5 else 0,
            )
        for customer in customers[::2]:
            wishlist = WishList.objects.create(owner=customer, name="Wunschzettel")
            for product in rng.sample(products, 3):
                wishlist.add(product)
        site = Site.objects.get_current()
        for url, page_title in (("/impressum/", "Impressum"), ("/agb/", "AGB"), ("/versand/", "Versand & Zahlung")):
            page = FlatPage.objects.create(url=url, title=page_title, content="<p>%s</p>" % title(rng, 60))
            page.sites.add(site)

    @staticmethod
    def order(rng, number, products, customers):
        user = customers[number % len(customers)]
        with transaction.atomic():
            basket = Basket.objects.create(owner=user)
            basket.strategy = Default()
            for product in rng.sample(products, rng.randrange(1, 5)):
                basket.add_product(product, quantity=rng.randrange(1, 4))
            shipping = FixedPrice(charge_excl_tax=Decimal("4.90"), charge_incl_tax=Decimal("4.90"))
            charge = shipping.calculate(basket)
            total = OrderTotalCalculator().calculate(basket, charge)
            address = user.addresses.first()
            shipping_address = ShippingAddress.objects.create(
                first_name=address.first_name, last_name=address.last_name, line1=address.line1,
                line4=address.line4, postcode=address.postcode, country=address.country,
                phone_number=address.phone_number)
            order = OrderCreator().place_order(
                basket=basket, total=total, shipping_method=shipping, shipping_charge=charge, user=user,
                shipping_address=shipping_address, order_number=str(100000 + number),
            )
            basket.submit()
        return order
