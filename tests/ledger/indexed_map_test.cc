#include "ledger/indexed_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>

namespace vigil::ledger {
namespace {

Bytes Key(int number) {
  std::string text = "key-" + std::to_string(number);
  return Bytes(text.begin(), text.end());
}

Bytes Value(int number) { return Bytes{static_cast<uint8_t>(number)}; }

// Sets `number`'s key to `value` in the map under test and in its model alike.
void SetBoth(IndexedMap& indexed, std::map<Bytes, Bytes>& model, int number, int value) {
  indexed.Set(Key(number), Value(value));
  model[Key(number)] = Value(value);
}

// What an IndexedMap must always agree with: the std::map it replaced.
void ExpectSameAs(const IndexedMap& indexed, const std::map<Bytes, Bytes>& model,
                  int probe_to) {
  EXPECT_EQ(indexed.ordered(), model);
  for (int number = 0; number < probe_to; ++number) {
    Bytes key = Key(number);
    const Bytes* found = indexed.Find(HashedKey(key));
    auto expected = model.find(key);
    if (expected == model.end()) {
      EXPECT_EQ(found, nullptr) << number;
    } else {
      ASSERT_NE(found, nullptr) << number;
      EXPECT_EQ(*found, expected->second) << number;
    }
  }
}

TEST(IndexedMapTest, AgreesWithAnOrderedMapThroughSetsOverwritesAndErases) {
  IndexedMap indexed;
  std::map<Bytes, Bytes> model;
  // Grows, overwrites, erases, re-inserts; checked while small and at the end.
  for (int number = 0; number < 100; ++number) {
    SetBoth(indexed, model, number, number);
    if (number == 10) ExpectSameAs(indexed, model, 120);
  }
  for (int number = 0; number < 100; number += 3) SetBoth(indexed, model, number, number + 1);
  for (int number = 0; number < 100; number += 7) {
    indexed.Erase(Key(number));
    model.erase(Key(number));
  }
  indexed.Erase(Key(500));  // absent: nothing happens
  SetBoth(indexed, model, 7, 70);
  ExpectSameAs(indexed, model, 120);
}

TEST(IndexedMapTest, CopiesAndMovesKeepAWorkingIndex) {
  IndexedMap original;
  std::map<Bytes, Bytes> model;
  for (int number = 0; number < 40; ++number) SetBoth(original, model, number, number);
  // A copy indexes its own nodes: changing it leaves the original alone, and the reverse.
  IndexedMap copy = original;
  copy.Set(Key(1), Value(99));
  copy.Erase(Key(2));
  ExpectSameAs(original, model, 50);
  SetBoth(original, model, 3, 77);
  EXPECT_EQ(*copy.Find(HashedKey(Key(3))), Value(3));
  // A moved-to map finds everything; the moved-from one is empty and still usable.
  IndexedMap moved = std::move(original);
  ExpectSameAs(moved, model, 50);
  EXPECT_TRUE(original.empty());  // NOLINT(bugprone-use-after-move): documented as empty
  EXPECT_EQ(original.Find(HashedKey(Key(3))), nullptr);
  original.Set(Key(1), Value(1));
  EXPECT_EQ(*original.Find(HashedKey(Key(1))), Value(1));
  // From an ordered map, as storage loads a state.
  IndexedMap loaded(model);
  ExpectSameAs(loaded, model, 50);
  copy = loaded;
  ExpectSameAs(copy, model, 50);
}

TEST(HashedWritesTest, KeepsTheLastWriteScansPrefixesAndGivesKeyOrderWhenAsked) {
  HashedWrites writes;
  std::map<Bytes, std::optional<Bytes>> model;
  for (int number = 0; number < 50; ++number) {
    writes.Set(Key(number), Value(number));
    model[Key(number)] = Value(number);
  }
  for (int number = 0; number < 50; number += 5) {
    writes.Set(Key(number), std::nullopt);  // a deletion is a write too
    model[Key(number)] = std::nullopt;
  }
  EXPECT_EQ(writes.ToOrdered(), model);
  for (int number = 0; number < 60; ++number) {
    Bytes key = Key(number);
    const std::optional<Bytes>* found = writes.Find(HashedKey(key));
    EXPECT_EQ(found != nullptr, model.contains(key)) << number;
    if (found != nullptr) {
      EXPECT_EQ(*found, model[key]) << number;
    }
  }
  // A prefix scan visits exactly the writes under it: "key-1", "key-10".."key-19".
  Bytes prefix = Key(1);
  std::map<Bytes, std::optional<Bytes>> ones;
  writes.ForEachWithPrefix(prefix, [&](const Bytes& key, const std::optional<Bytes>& value) {
    EXPECT_TRUE(ones.emplace(key, value).second) << "visited twice";
  });
  std::map<Bytes, std::optional<Bytes>> expected_ones;
  for (const auto& [key, value] : model) {
    if (key.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), key.begin())) {
      expected_ones.emplace(key, value);
    }
  }
  EXPECT_EQ(expected_ones.size(), 11u);
  EXPECT_EQ(ones, expected_ones);

  HashedWrites later;
  later.Set(Key(3), Value(33));
  later.Set(Key(70), std::nullopt);
  model[Key(3)] = Value(33);
  model[Key(70)] = std::nullopt;
  writes.Absorb(std::move(later));
  EXPECT_TRUE(later.empty());  // NOLINT(bugprone-use-after-move): Absorb empties it
  EXPECT_EQ(std::move(writes).TakeOrdered(), model);
}

}  // namespace
}  // namespace vigil::ledger
