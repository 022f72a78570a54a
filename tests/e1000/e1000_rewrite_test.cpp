// Slots of the e1000 family's rings rewritten by a second application thread
// after the prologue checked them (tests/common/slot_rewrite.hpp): legacy
// descriptors (8254x, 82574L) and advanced ones (82576, I350).
#include "e1000_test_util.hpp"

#include "../common/slot_rewrite.hpp"

using namespace upio;
using namespace upio::e1000;
using namespace upio::e1000::test;

namespace {

struct ChipCase {
    Chip chip;
    const char* name;
};
const ChipCase chips[] = {{Chip::i82540em, "82540EM (legacy)"},
                          {Chip::i82574l, "82574L (legacy, MSI-X)"},
                          {Chip::i82576, "82576 (advanced)"},
                          {Chip::i350, "I350 (advanced)"}};

std::unique_ptr<Port> open_chip(std::uint8_t dev, Chip chip, E1000Model*& model) {
    ModelConfig cfg;
    cfg.chip = chip;
    auto p = open_on_model(pci(dev), cfg, upio::test::rewrite_opts());
    if (!p.ok()) {
        ADD_FAILURE() << p.error().message;
        return nullptr;
    }
    model = model_at(pci(dev));
    model->set_wire([](const std::uint8_t*, std::size_t) {});
    return std::move(p.value());
}

} // namespace

TEST(E1000Rewrite, SlotsRewrittenAfterThePrologueAreCheckedWhereTheDriverReadsThem) {
    for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        E1000Model* model = nullptr;
        auto port = open_chip(0x1b, c.chip, model);
        ASSERT_TRUE(port);
        const Frame fr = make_frame(dynamic_cast<E1000Adapter&>(port->adapter()).mac(), 1, 60);
        upio::test::expect_slots_rewritten_after_the_prologue_are_checked(
            *port, *model, [&] { return model->receive(fr.data(), fr.size()); });
    }
}

TEST(E1000Rewrite, TxSlotsScribbledWhileStreamingNeverLeaveTheRegion) {
    for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        E1000Model* model = nullptr;
        auto port = open_chip(0x1c, c.chip, model);
        ASSERT_TRUE(port);
        upio::test::expect_tx_scribbled_while_streaming_stays_inside(*port, *model, 20000);
    }
}
